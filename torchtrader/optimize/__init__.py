"""Optimisation: search spaces, Ray Tune runners, walk-forward, overfitting statistics."""
