"""Strategy parameters from the command line and for sweeps: parsing, validation, grids.

Values given as ``"k=v"`` strings are coerced by the field's type (pydantic's lax mode: ``"10"`` → 10
for an int field, ``"true"``/``"false"``/``"1"``/``"0"`` for a bool). Every problem becomes one line:
an unknown name with a did-you-mean hint, a value the field refuses, or a cross-field rule
(``slow must be > fast``) raised by the Params' ``model_validator``.
"""

from __future__ import annotations

import difflib
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from torchtrader.errors import StrategyError
from torchtrader.strategies.contract import Strategy, StrategyParams

logger = logging.getLogger(__name__)


def strategy_label(cls: type[Strategy]) -> str:
    return str(getattr(cls, "name", cls.__name__))


def format_params(params: StrategyParams) -> str:
    """``fast=10 slow=30``: how parameters appear in messages and reports."""
    return " ".join(f"{key}={value}" for key, value in params.model_dump().items()) or "(no parameters)"


def parse_params(cls: type[Strategy], assignments: Sequence[str] | Mapping[str, Any]) -> StrategyParams:
    """Validated ``cls.Params`` from ``["k=v", ...]`` or a mapping; defaults fill the rest."""
    values = _as_mapping(cls, assignments)
    _check_names(cls, values)
    try:
        return cls.Params(**values)
    except pydantic.ValidationError as error:
        raise StrategyError(_one_line(cls, error)) from None


@dataclass(frozen=True)
class Grid:
    """A Cartesian grid of parameter combinations after validation."""

    params: list[StrategyParams]
    total: int
    dropped: int


def grid_report(cls: type[Strategy], ranges: Mapping[str, Sequence[Any]]) -> Grid:
    """Every combination of ``ranges`` (others at their defaults), with the invalid ones dropped.

    A combination that breaks a cross-field rule (``fast >= slow``) is dropped and counted; a value that
    is wrong on its own (``fast="x"``, ``fast=0``) raises, since it would silently drop whole rows of the
    grid. If nothing valid is left, that is an error too.
    """
    _check_names(cls, ranges)
    names = list(ranges)
    columns: list[list[Any]] = []
    for name in names:
        column = list(ranges[name]) if not isinstance(ranges[name], str) else [ranges[name]]
        if not column:
            raise StrategyError(f"empty range for parameter '{name}' of {strategy_label(cls)}")
        columns.append(column)
    valid: list[StrategyParams] = []
    total = 0
    for combo in itertools.product(*columns):
        total += 1
        try:
            valid.append(cls.Params(**dict(zip(names, combo, strict=True))))
        except pydantic.ValidationError as error:
            if any(item["loc"] for item in error.errors()):
                raise StrategyError(_one_line(cls, error)) from None
    dropped = total - len(valid)
    if not valid:
        raise StrategyError(
            f"no valid parameter combination for {strategy_label(cls)} in the grid ({total} tried)"
        )
    if dropped:
        logger.info("%s grid: dropped %d of %d combinations breaking cross-field rules", cls, dropped, total)
    return Grid(params=valid, total=total, dropped=dropped)


def grid(cls: type[Strategy], ranges: Mapping[str, Sequence[Any]]) -> list[StrategyParams]:
    """The valid combinations of ``ranges`` (see ``grid_report`` for the counts of dropped ones)."""
    return grid_report(cls, ranges).params


def _as_mapping(cls: type[Strategy], assignments: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(assignments, Mapping):
        return dict(assignments)
    if isinstance(assignments, str):
        assignments = [assignments]
    values: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise StrategyError(f"parameter '{item}' for {strategy_label(cls)} is not of the form name=value")
        if key in values:
            raise StrategyError(f"parameter '{key}' for {strategy_label(cls)} given twice")
        values[key] = value.strip()
    return values


def _check_names(cls: type[Strategy], values: Mapping[str, Any]) -> None:
    known = list(cls.Params.model_fields)
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            tail = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(known) or 'none'}"
            raise StrategyError(f"unknown parameter '{key}' for {strategy_label(cls)}{tail}")


def _one_line(cls: type[Strategy], error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if first["loc"]:
        name = ".".join(str(part) for part in first["loc"])
        return f"invalid parameter {name}={first.get('input')!r} for {strategy_label(cls)}: {message}"
    return f"invalid parameters for {strategy_label(cls)}: {message}"
