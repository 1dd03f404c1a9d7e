"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import typer

from torchtrader.errors import ConfigError

if TYPE_CHECKING:
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


def write_json(target: str, payload: dict[str, Any]) -> None:
    """``--json OUT``: strict JSON to OUT (``-`` = stdout), written whole (temp file, then rename)."""
    text = json.dumps(payload, indent=2, allow_nan=False)
    if target == "-":
        typer.echo(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


@overload
def parse_when(text: str, option: str = "--start") -> datetime: ...
@overload
def parse_when(text: None, option: str = "--start") -> None: ...
def parse_when(text: str | None, option: str = "--start") -> datetime | None:
    """ISO-8601 date or datetime as an aware UTC datetime (naive values are UTC); None passes through.

    Bad text is a one-line ConfigError naming ``option``.
    """
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{option}: {text!r} is not an ISO-8601 date or datetime (e.g. 2020-01-31 or 2020-01-31T12:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
