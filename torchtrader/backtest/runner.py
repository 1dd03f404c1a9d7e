"""Backtests and sweeps of lake data by name: what the CLI commands and the Prefect tasks call.

Each call reads one series at one pinned lake version (recorded in the result), resolves the strategy
by name (built-in or user file) and runs the chosen engine.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pydantic

from torchtrader.backtest.config import BacktestConfig

# Re-exported: callers parse and run from one module.
from torchtrader.backtest.grid import MAX_GRID_VALUES as MAX_GRID_VALUES
from torchtrader.backtest.grid import parse_grid as parse_grid
from torchtrader.backtest.grid import parse_weights as parse_weights
from torchtrader.backtest.results import BacktestResult, SweepResult
from torchtrader.errors import BacktestError, ConfigError, StrategyError
from torchtrader.lake import Lake
from torchtrader.lake.corporate_actions import Adjust, check_adjust
from torchtrader.strategies import Bars, Strategy, StrategyParams, grid_report, load_strategy, parse_params

if TYPE_CHECKING:
    from torchtrader.backtest.portfolio import PortfolioResult

logger = logging.getLogger(__name__)

Engine = Literal["vector", "backtrader"]
ENGINES: tuple[Engine, ...] = ("vector", "backtrader")


@dataclass(frozen=True)
class SeriesRef:
    """One series of the lake, as the user names it."""

    symbol: str
    timeframe: str = "1d"
    source: str | None = None
    adjust: Adjust = "split"  # corporate-action adjustment at read time (``Lake.read_bars``)


def make_config(**values: Any) -> BacktestConfig:
    """A BacktestConfig from loose values (None = default); bad values become one-line ConfigErrors."""
    given = {key: value for key, value in values.items() if value is not None}
    try:
        return BacktestConfig(**given)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "config"
        raise ConfigError(f"invalid backtest setting {name}={first.get('input')!r}: {first['msg']}") from None


def load_bars(
    lake: Lake,
    series: SeriesRef,
    *,
    version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    warmup: int = 0,
) -> tuple[Bars, int | None]:
    """The series' bars at ``version`` (default: the latest) and the bars version actually read.

    The range is half-open, ``start <= ts < end`` (like ``Lake.read_bars`` and ``ingest --end``), and
    up to ``warmup`` bars before ``start`` come along for indicators: ``trade_start(bars, start)`` is
    the index of the first bar in range. A range holding fewer than 2 bars is a one-line ConfigError.
    """
    if warmup < 0:
        raise ConfigError(f"warmup must be >= 0 bars, got {warmup}")
    start, end = utc_or_none(start), utc_or_none(end)
    if start is not None and end is not None and end <= start:
        raise ConfigError(
            f"empty date range: --end {end.isoformat()} is not after --start {start.isoformat()}"
        )
    pinned = lake.version("bars") if version is None else version
    frame = lake.read_bars(
        series.symbol, series.timeframe, source=series.source, end=end, version=pinned, adjust=series.adjust
    )
    first = 0
    if start is not None:
        first = int(frame["ts"].search_sorted(start, side="left"))
        frame = frame.slice(max(0, first - warmup))
        first = min(first, warmup)
    in_range = frame.height - first
    if in_range < 2:
        raise ConfigError(_too_few_bars(lake, series, pinned, in_range, start, end))
    return Bars.from_frame(frame), pinned


def trade_start(bars: Bars, start: datetime | None) -> int:
    """Index of the first bar at or after ``start`` (0 without a start): where trading begins."""
    if start is None:
        return 0
    from torchtrader.backtest.engine import ts_ns

    return int(np.searchsorted(bars.ts, ts_ns(start), side="left"))


def utc_or_none(moment: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive values are taken as UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _too_few_bars(
    lake: Lake,
    series: SeriesRef,
    version: int | None,
    count: int,
    start: datetime | None,
    end: datetime | None,
) -> str:
    name = f"{series.symbol} {series.timeframe}"
    if start is None and end is None:
        return f"{name} has {count} bar(s) in the lake: need at least 2"
    whole = lake.read_bars(
        series.symbol, series.timeframe, source=series.source, version=version, adjust="none"
    )
    first, last = (str(value) for value in (whole["ts"].min(), whole["ts"].max()))
    held = f"the lake holds {first} .. {last}" if whole.height else "the lake holds none"
    span = f"[{start.isoformat() if start else '-inf'}, {end.isoformat() if end else '+inf'})"
    return f"{name} has {count} bar(s) in {span} (need at least 2): {held}; change --start/--end"


def strategy_warmup(strategy: Strategy, params: Sequence[StrategyParams]) -> int:
    """Bars of history the strategy needs before its first meaningful decision: the max over ``params``."""
    try:
        needs = [int(strategy.warmup(p)) for p in params]
    except Exception as error:
        raise StrategyError(f"strategy {strategy.name!r} failed in warmup(): {error}") from error
    return max([0, *needs])


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
    start: datetime | None = None,
    end: datetime | None = None,
    warmup: int | None = None,
) -> BacktestResult:
    """One backtest of ``strategy`` (name or file) with ``params`` (``["k=v"]`` or a mapping).

    ``start``/``end`` (half-open, UTC) bound the traded range; bars before ``start`` (the strategy's
    ``warmup``) feed its indicators, trading starts flat at ``start`` and a position still open at the
    end closes at the last close in range. The result records the range. ``warmup`` overrides the
    strategy's own bar count (a stateful strategy, e.g. a crossover, can decide differently on a
    longer history: pass a sweep's warm-up to reproduce one of its rows exactly).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    cls = load_strategy(strategy, strategies_dir)
    parsed = parse_params(cls, params)
    config = config or BacktestConfig()
    instance = cls()
    start, end = utc_or_none(start), utc_or_none(end)
    if warmup is None:
        warmup = strategy_warmup(instance, [parsed]) if start is not None else 0
    bars, pinned = load_bars(lake, series, version=version, start=start, end=end, warmup=warmup)
    trade_from = trade_start(bars, start)
    if engine == "backtrader":
        from torchtrader.backtest.backtrader_engine import run_backtrader

        result = run_backtrader(instance, bars, parsed, config, lake_version=pinned, trade_from=trade_from)
    else:
        from torchtrader.backtest.engine import run_backtest

        result = run_backtest(instance, bars, parsed, config, lake_version=pinned, trade_from=trade_from)
    return dataclasses.replace(result, start=start, end=end, adjust=series.adjust, warmup_bars=trade_from)


def portfolio_backtest(
    lake: Lake,
    series: Sequence[SeriesRef],
    strategy: str,
    params: Sequence[str] | Mapping[str, Any] = (),
    weights: Mapping[str, float] | None = None,
    config: BacktestConfig | None = None,
    *,
    strategies_dir: str | None = None,
    version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    warmup: int | None = None,
) -> PortfolioResult:
    """One strategy on several series with shared cash (``backtest.portfolio``); equal weights by default.

    Every series is read at one pinned bars version; ``start``/``end``/``warmup`` as in ``backtest``.
    """
    symbols = [ref.symbol for ref in series]
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"a portfolio names each symbol once, got {', '.join(symbols)}")
    if not symbols:
        raise ConfigError("a portfolio needs at least one --symbol")
    weights = dict(weights) if weights is not None else dict.fromkeys(symbols, 1.0 / len(symbols))
    cls = load_strategy(strategy, strategies_dir)
    parsed = parse_params(cls, params)
    instance = cls()
    start, end = utc_or_none(start), utc_or_none(end)
    if warmup is None:
        warmup = strategy_warmup(instance, [parsed]) if start is not None else 0
    pinned = lake.version("bars") if version is None else version
    bars = {
        ref.symbol: load_bars(lake, ref, version=pinned, start=start, end=end, warmup=warmup)[0]
        for ref in series
    }
    from torchtrader.backtest.portfolio import run_portfolio

    try:
        result = run_portfolio(
            instance, bars, parsed, weights, config or BacktestConfig(), lake_version=pinned, start=start
        )
    except BacktestError as error:
        raise ConfigError(str(error)) from None
    adjusts = {ref.adjust for ref in series}
    return dataclasses.replace(
        result, start=start, end=end, adjust=adjusts.pop() if len(adjusts) == 1 else None
    )


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
    start: datetime | None = None,
    end: datetime | None = None,
    warmup: int | None = None,
) -> SweepResult:
    """Every valid combination of ``ranges`` (Cartesian product) with the batched engine.

    ``start``/``end`` as in ``backtest``; the warm-up (unless ``warmup`` is given) is the largest any
    combination needs, the same bars for every combination.
    """
    cls = load_strategy(strategy, strategies_dir)
    combos = grid_params(cls, ranges)
    instance = cls()
    start, end = utc_or_none(start), utc_or_none(end)
    if warmup is None:
        warmup = strategy_warmup(instance, combos) if start is not None else 0
    bars, pinned = load_bars(lake, series, version=version, start=start, end=end, warmup=warmup)
    trade_from = trade_start(bars, start)
    from torchtrader.backtest.engine import run_sweep

    result = run_sweep(
        instance,
        bars,
        combos,
        config or BacktestConfig(),
        rank_by=rank_by,
        top_k=top_k,
        lake_version=pinned,
        trade_from=trade_from,
    )
    top = [
        dataclasses.replace(r, start=start, end=end, adjust=series.adjust, warmup_bars=trade_from)
        for r in result.top
    ]
    return dataclasses.replace(
        result, top=top, start=start, end=end, adjust=series.adjust, warmup_bars=trade_from
    )


def grid_params(cls: Any, ranges: Mapping[str, Sequence[Any]]) -> list[StrategyParams]:
    report = grid_report(cls, ranges)
    if report.dropped:
        logger.info(
            "dropped %d of %d combinations that break the strategy's rules", report.dropped, report.total
        )
    return report.params


def tearsheet(lake: Lake, result: BacktestResult, path: str | Path, *, source: str | None = None) -> Path:
    """Write ``result``'s tearsheet, priced on the exact bars (lake version) it was run on."""
    from torchtrader.backtest.tearsheet import write_tearsheet

    adjust = check_adjust(result.adjust or "split")
    series = SeriesRef(result.symbol, result.timeframe, source, adjust)
    bars, _ = load_bars(lake, series, version=result.lake_version, start=result.start, end=result.end)
    return write_tearsheet(result, bars, path)
