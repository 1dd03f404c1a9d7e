"""The batched torch engine: one backtest, or a sweep of thousands of parameter combinations.

A sweep evaluates combos in chunks sized to a memory budget (positions, fills and the equity curve
of one chunk at a time); only each combo's metrics are kept, and the best ``top_k`` are re-run in
full (trades and equity) at the end — the kernel is deterministic, so they are exactly the combos
that were ranked. Fill rules: ``torchtrader.backtest.config``; kernel: ``engine_sim.simulate``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import torch

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine_sim import (
    SimulationOutput,
    StopIndex,
    TradeTable,
    Workspace,
    resolve_device,
    resolve_dtype,
    simulate,
)
from torchtrader.backtest.metrics import buy_and_hold, metrics_at
from torchtrader.backtest.results import (
    EXIT_REASONS,
    BacktestResult,
    Metrics,
    SweepResult,
    Trade,
    rank_frame,
)
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams
from torchtrader.strategies.fence import run_positions

__all__ = ["SimulationOutput", "run_backtest", "run_sweep", "simulate", "sweep_order"]

logger = logging.getLogger(__name__)

# Elements of one [chunk, T] positions tensor (16 combos at 1 M bars). Measured with sma_cross on one
# thread: 8 → 16 → 32 combos per chunk trade CPU time for memory (peak RSS ~0.8 / ~1.1 / ~1.7 GB),
# since a chunk shares indicator work between its combos. Peak memory does not grow with the combos.
CHUNK_ELEMENTS = 1 << 24
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def run_backtest(
    strategy: Strategy,
    bars: Bars,
    params: StrategyParams,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, immutable default
    *,
    lake_version: int | None = None,
    trade_from: int = 0,
) -> BacktestResult:
    """Backtest one parameter set of ``strategy`` on ``bars``: trades, equity curve and metrics.

    ``trade_from``: bars before it are warm-up only. The strategy sees every bar, but trading starts
    flat at bar ``trade_from`` and trades, equity and metrics cover ``bars[trade_from:]`` alone.
    """
    prepared = _prepare(bars, config)
    traded = trading_window(prepared, trade_from)
    batch = ParamBatch.from_params([params], device=prepared.device, dtype=prepared.dtype)
    positions = run_positions(strategy, prepared, batch)[:, trade_from:]
    out = simulate(positions, traded, config)
    return result_of(out, 0, strategy, traded, params, config, lake_version)


def run_sweep(
    strategy: Strategy,
    bars: Bars,
    params: Sequence[StrategyParams],
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, immutable default
    *,
    rank_by: str = "sharpe",
    top_k: int = 10,
    chunk_size: int | None = None,
    lake_version: int | None = None,
    trade_from: int = 0,
) -> SweepResult:
    """Evaluate every parameter combination; metrics for all, full results for the best ``top_k``.

    ``trade_from`` as in ``run_backtest``: every combo trades ``bars[trade_from:]`` only.
    """
    if not params:
        raise BacktestError("no parameter combinations to sweep")
    if rank_by not in Metrics.names():
        raise BacktestError(f"unknown ranking metric {rank_by!r}: use one of {', '.join(Metrics.names())}")
    if chunk_size is not None and chunk_size < 1:
        raise BacktestError(f"chunk_size must be >= 1, got {chunk_size}")
    prepared = _prepare(bars, config)
    traded = trading_window(prepared, trade_from)
    chunk = chunk_size or max(1, CHUNK_ELEMENTS // max(len(prepared), 1))
    stops = None
    if config.stop_loss is not None or config.take_profit is not None:
        stops = StopIndex(traded.low, traded.high)
    workspace = Workspace(min(chunk, len(params)), len(traded), prepared.device)
    columns: dict[str, list[float]] = {name: [0.0] * len(params) for name in Metrics.names()}
    # Neighbouring combos share parameter values, so the indicator rows the bars' memo keeps
    # (``Bars.memo``, bounded) are reused chunk after chunk; metrics go back to the caller's order.
    order = sweep_order(params)
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        part = [params[i] for i in rows]
        batch = ParamBatch.from_params(part, device=prepared.device, dtype=prepared.dtype)
        positions = run_positions(strategy, prepared, batch)[:, trade_from:]
        out = simulate(positions, traded, config, keep_equity=False, stop_index=stops, workspace=workspace)
        del positions
        for name in Metrics.names():
            column = columns[name]
            for i, value in zip(rows, out.metrics[name].double().cpu().tolist(), strict=True):
                column[i] = value
        logger.debug("swept combos %d..%d of %d", start, start + len(part), len(params))

    frame = _params_frame(params).with_row_index("combo")
    frame = frame.hstack(
        pl.DataFrame({name: columns[name] for name in Metrics.names()}).with_columns(
            pl.col("n_trades").cast(pl.Int64)
        )
    )
    best = rank_frame(frame, rank_by).head(top_k)["combo"].to_list()
    top: list[BacktestResult] = []
    if best:
        chosen = [params[i] for i in best]
        batch = ParamBatch.from_params(chosen, device=prepared.device, dtype=prepared.dtype)
        positions = run_positions(strategy, prepared, batch)[:, trade_from:]
        out = simulate(positions, traded, config, stop_index=stops)
        del workspace
        top = [
            result_of(out, row, strategy, traded, chosen[row], config, lake_version)
            for row in range(len(chosen))
        ]
    return SweepResult(
        strategy=strategy.name,
        n_combos=len(params),
        metrics=frame.drop("combo"),
        top=top,
        rank_by=rank_by,
        symbol=prepared.symbol,
        timeframe=prepared.timeframe,
        lake_version=lake_version,
        benchmark=buy_and_hold(traded.close, timeframe=traded.timeframe),
    )


def sweep_order(params: Sequence[StrategyParams]) -> list[int]:
    """Indices of ``params`` in serpentine order: sorted by the first parameter, the next one running
    up and down alternately (by rank), so consecutive chunks share most indicator periods and a
    bounded LRU memo keeps hitting even when a grid's rows outnumber it. Unorderable values
    (mixed types) keep the caller's order."""
    if len(params) < 2:
        return list(range(len(params)))
    rows = [tuple(p.model_dump().values()) for p in params]
    try:
        ranks = [{v: r for r, v in enumerate(sorted(set(column)))} for column in zip(*rows, strict=True)]
    except TypeError:
        return list(range(len(params)))

    def key(i: int) -> tuple[int, ...]:
        out: list[int] = []
        parity = 0
        for rank_of, value in zip(ranks, rows[i], strict=True):
            rank = rank_of[value]
            out.append(-rank if parity % 2 else rank)
            parity += rank
        return tuple(out)

    return sorted(range(len(params)), key=key)


def result_of(
    out: SimulationOutput,
    row: int,
    strategy: Strategy,
    bars: Bars,
    params: StrategyParams,
    config: BacktestConfig,
    lake_version: int | None,
) -> BacktestResult:
    """The BacktestResult of combo ``row`` of a simulation that kept its equity curves."""
    if out.equity is None:
        raise BacktestError("this simulation ran without keep_equity; re-run it to get a full result")
    equity = out.equity[row].double().cpu().numpy()
    return BacktestResult(
        strategy=strategy.name,
        params=params.model_dump(mode="json"),
        symbol=bars.symbol,
        timeframe=bars.timeframe,
        config=config,
        metrics=metrics_at(out.metrics, row),
        trades=trades_of(out.trades, row, bars.ts),
        equity=pl.DataFrame({"ts": ts_series(bars.ts), "equity": equity}),
        final_equity=float(out.final_equity[row]),
        lake_version=lake_version,
        benchmark=buy_and_hold(bars.close, timeframe=bars.timeframe),
    )


def trades_of(table: TradeTable, row: int, ts: np.ndarray[Any, np.dtype[np.int64]]) -> list[Trade]:
    """The trades of combo ``row`` as Trade objects (times from the bars' open times)."""
    mask = table.combo == row
    cols = {
        name: getattr(table, name)[mask].cpu().tolist()
        for name in (
            "entry_bar",
            "exit_bar",
            "direction",
            "units",
            "entry_price",
            "exit_price",
            "pnl",
            "fees",
            "exit_reason",
        )
    }
    return [
        Trade(
            entry_time=bar_time(ts, int(cols["entry_bar"][i])),
            exit_time=bar_time(ts, int(cols["exit_bar"][i])),
            side="long" if cols["direction"][i] > 0 else "short",
            size=float(cols["units"][i]),
            entry_price=float(cols["entry_price"][i]),
            exit_price=float(cols["exit_price"][i]),
            pnl=float(cols["pnl"][i]),
            fees=float(cols["fees"][i]),
            exit_reason=EXIT_REASONS[int(cols["exit_reason"][i])],
        )
        for i in range(len(cols["pnl"]))
    ]


def bar_time(ts: np.ndarray[Any, np.dtype[np.int64]], index: int) -> datetime:
    """A bar's open time (int64 ns since the epoch) as an aware UTC datetime, microsecond precision."""
    return _EPOCH + timedelta(microseconds=int(ts[index]) // 1000)


def ts_ns(moment: datetime) -> int:
    """An aware datetime as int64 ns since the epoch (the bars' ``ts`` unit); naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def ts_series(ts: np.ndarray[Any, np.dtype[np.int64]]) -> pl.Series:
    return pl.Series("ts", ts // 1000, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def trading_window(bars: Bars, trade_from: int) -> Bars:
    """``bars[trade_from:]``, the bars a date-ranged run trades on (at least 2 of them)."""
    if not 0 <= trade_from < len(bars):
        raise BacktestError(f"trade_from {trade_from} is outside the {len(bars)} bars of {bars.symbol!r}")
    traded = bars.window(trade_from) if trade_from else bars
    if len(traded) < 2:
        raise BacktestError(
            f"the traded range of {bars.symbol!r} holds {len(traded)} bar(s): need at least 2"
        )
    return traded


def _prepare(bars: Bars, config: BacktestConfig) -> Bars:
    if len(bars) < 2:
        raise BacktestError(f"a backtest needs at least 2 bars, got {len(bars)} for {bars.symbol!r}")
    if bars.ts.shape[0] != len(bars):
        raise BacktestError(f"bars hold {len(bars)} prices but {bars.ts.shape[0]} timestamps")
    device, dtype = resolve_device(config.device), resolve_dtype(config.dtype)
    prepared = bars.to(device=device, dtype=dtype) if (bars.device, bars.dtype) != (device, dtype) else bars
    if not bool(torch.isfinite(prepared.open).all() and torch.isfinite(prepared.close).all()):
        raise BacktestError(f"bars of {bars.symbol!r} hold non-finite open/close prices; clean them first")
    return prepared


def _params_frame(params: Sequence[StrategyParams]) -> pl.DataFrame:
    rows = [p.model_dump(mode="json") for p in params]
    return pl.DataFrame(rows)
