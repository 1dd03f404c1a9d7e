"""Where a person finds a tracked run: the MLflow UI's URL for an http(s) server, else the command."""

from __future__ import annotations


def run_link(tracking_uri: str | None, run_id: str | None, experiment_id: str | None = None) -> str:
    """The run's page on an http(s) tracking server (its experiment looked up when not given), or the
    ``torchtrader runs show`` command for a local store; "" for an untracked result."""
    if not run_id:
        return ""
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        if experiment_id is None:
            from mlflow import MlflowClient

            experiment_id = MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.experiment_id
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"torchtrader runs show {run_id}"
