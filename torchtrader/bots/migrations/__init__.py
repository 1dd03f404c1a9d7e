"""Alembic migrations of the bot state store, run programmatically by ``bots.store.schema``."""
