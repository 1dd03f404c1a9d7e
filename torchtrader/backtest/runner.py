"""Backtests and sweeps of lake data by name: what the CLI commands and the Prefect tasks call.

Each call reads one series at one pinned lake version (recorded in the result), resolves the strategy
by name (built-in or user file) and runs the chosen engine.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import pydantic

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import BacktestResult, SweepResult
from torchtrader.errors import ConfigError
from torchtrader.lake import Lake
from torchtrader.strategies import Bars, StrategyParams, grid_report, load_strategy, parse_params

logger = logging.getLogger(__name__)

Engine = Literal["vector", "backtrader"]
ENGINES: tuple[Engine, ...] = ("vector", "backtrader")
_GRID = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$")
MAX_GRID_VALUES = 100_000


@dataclass(frozen=True)
class SeriesRef:
    """One series of the lake, as the user names it."""

    symbol: str
    timeframe: str = "1d"
    source: str | None = None


def make_config(**values: Any) -> BacktestConfig:
    """A BacktestConfig from loose values (None = default); bad values become one-line ConfigErrors."""
    given = {key: value for key, value in values.items() if value is not None}
    try:
        return BacktestConfig(**given)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "config"
        raise ConfigError(f"invalid backtest setting {name}={first.get('input')!r}: {first['msg']}") from None


def load_bars(lake: Lake, series: SeriesRef, *, version: int | None = None) -> tuple[Bars, int | None]:
    """The series' bars at ``version`` (default: the latest) and the bars version actually read."""
    pinned = lake.version("bars") if version is None else version
    frame = lake.read_bars(series.symbol, series.timeframe, source=series.source, version=pinned)
    if frame.height < 2:
        raise ConfigError(
            f"{series.symbol} {series.timeframe} has {frame.height} bar(s) in the lake: need at least 2"
        )
    return Bars.from_frame(frame), pinned


def backtest(
    lake: Lake,
    series: SeriesRef,
    strategy: str,
    params: Sequence[str] | Mapping[str, Any] = (),
    config: BacktestConfig | None = None,
    *,
    engine: Engine = "vector",
    strategies_dir: str | None = None,
    version: int | None = None,
) -> BacktestResult:
    """One backtest of ``strategy`` (name or file) with ``params`` (``["k=v"]`` or a mapping)."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    cls = load_strategy(strategy, strategies_dir)
    parsed = parse_params(cls, params)
    config = config or BacktestConfig()
    bars, pinned = load_bars(lake, series, version=version)
    if engine == "backtrader":
        from torchtrader.backtest.backtrader_engine import run_backtrader

        return run_backtrader(cls(), bars, parsed, config, lake_version=pinned)
    from torchtrader.backtest.engine import run_backtest

    return run_backtest(cls(), bars, parsed, config, lake_version=pinned)


def sweep(
    lake: Lake,
    series: SeriesRef,
    strategy: str,
    ranges: Mapping[str, Sequence[Any]],
    config: BacktestConfig | None = None,
    *,
    rank_by: str = "sharpe",
    top_k: int = 10,
    strategies_dir: str | None = None,
    version: int | None = None,
) -> SweepResult:
    """Every valid combination of ``ranges`` (Cartesian product) with the batched engine."""
    cls = load_strategy(strategy, strategies_dir)
    combos = grid_params(cls, ranges)
    bars, pinned = load_bars(lake, series, version=version)
    from torchtrader.backtest.engine import run_sweep

    return run_sweep(
        cls(), bars, combos, config or BacktestConfig(), rank_by=rank_by, top_k=top_k, lake_version=pinned
    )


def grid_params(cls: Any, ranges: Mapping[str, Sequence[Any]]) -> list[StrategyParams]:
    report = grid_report(cls, ranges)
    if report.dropped:
        logger.info(
            "dropped %d of %d combinations that break the strategy's rules", report.dropped, report.total
        )
    return report.params


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


def tearsheet(lake: Lake, result: BacktestResult, path: str | Path, *, source: str | None = None) -> Path:
    """Write ``result``'s tearsheet, priced on the exact bars (lake version) it was run on."""
    from torchtrader.backtest.tearsheet import write_tearsheet

    series = SeriesRef(result.symbol, result.timeframe, source)
    bars, _ = load_bars(lake, series, version=result.lake_version)
    return write_tearsheet(result, bars, path)
