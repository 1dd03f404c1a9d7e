"""Parsing of the CLI's parameter grids (``--grid``) and portfolio weights (``--weights``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from torchtrader.errors import ConfigError

_GRID = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$")
MAX_GRID_VALUES = 100_000


def parse_grid(specs: Sequence[str]) -> dict[str, list[int | float | str]]:
    """``["fast=5:20:5", "slow=30,50"]`` → ``{"fast": [5, 10, 15, 20], "slow": [30, 50]}``.

    ``start:stop:step`` includes ``stop`` when the steps land on it; integers stay integers when start,
    stop and step all are. A comma list gives the values as written.
    """
    ranges: dict[str, list[int | float | str]] = {}
    for spec in specs:
        match = _GRID.match(spec)
        if not match:
            raise ConfigError(f"bad --grid {spec!r}: use name=start:stop:step or name=v1,v2,...")
        name, body = match.groups()
        if name in ranges:
            raise ConfigError(f"--grid gives parameter {name!r} twice")
        ranges[name] = _grid_values(spec, body)
    return ranges


def _grid_values(spec: str, body: str) -> list[int | float | str]:
    if ":" not in body:
        return [_number(spec, part) for part in body.split(",")]
    parts = body.split(":")
    if len(parts) != 3:
        raise ConfigError(f"bad --grid {spec!r}: a range needs exactly start:stop:step")
    start, stop, step = (_decimal(spec, part) for part in parts)
    if step <= 0:
        raise ConfigError(f"bad --grid {spec!r}: step must be > 0")
    if stop < start:
        raise ConfigError(f"bad --grid {spec!r}: stop is below start")
    count = int((stop - start) / step) + 1  # Decimal arithmetic: 0.1 steps land exactly on stop
    if count > MAX_GRID_VALUES:
        raise ConfigError(f"bad --grid {spec!r}: {count} values (at most {MAX_GRID_VALUES} per parameter)")
    integral = all(
        value == value.to_integral_value() and "." not in text and "e" not in text.lower()
        for value, text in zip((start, stop, step), parts, strict=True)
    )
    values = [start + step * i for i in range(count)]
    return [int(v) for v in values] if integral else [float(v) for v in values]


def _decimal(spec: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"bad --grid {spec!r}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise ConfigError(f"bad --grid {spec!r}: {text.strip()!r} is not a finite number")
    return value


def _number(spec: str, text: str) -> int | float | str:
    """A list item: a number when it reads as one, else the text (``true``), which the strategy's
    parameter model validates."""
    text = text.strip()
    if not text:
        raise ConfigError(f"bad --grid {spec!r}: empty value in the list")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    if value == value.to_integral_value() and "." not in text and "e" not in text.lower():
        return int(value)
    return float(value)


def parse_weights(text: str | None, symbols: Sequence[str]) -> dict[str, float] | None:
    """``--weights``: ``0.6,0.4`` (in ``--symbol`` order) or ``SPX=0.6,IXIC=0.4``; None = equal weights."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    named = all("=" in part for part in parts)
    if not named and any("=" in part for part in parts):
        raise ConfigError(f"bad --weights {text!r}: use w1,w2,... or SYMBOL=w,...")
    pairs = [part.split("=", 1) for part in parts] if named else list(zip(symbols, parts, strict=False))
    if not named and len(parts) != len(symbols):
        raise ConfigError(f"--weights gives {len(parts)} weight(s) for {len(symbols)} --symbol(s)")
    weights: dict[str, float] = {}
    for name, value in pairs:
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"bad --weights {text!r}: {value.strip()!r} is not a number") from None
    unknown = sorted(set(weights) - set(symbols))
    if unknown or len(weights) != len(symbols):
        missing = sorted(set(symbols) - set(weights))
        raise ConfigError(f"--weights and --symbol differ: no symbol {unknown}, no weight for {missing}")
    return weights
