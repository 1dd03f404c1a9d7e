"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import typer

from torchtrader.config import Settings


@dataclass(frozen=True)
class CliState:
    settings: Settings


def settings_of(ctx: typer.Context) -> Settings:
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state.settings


def echo_json(payload: Any) -> None:
    """Machine-readable output: one JSON document on stdout, ISO-8601 for datetimes."""
    typer.echo(json.dumps(payload, indent=2, default=str))
