"""Overfitting statistics of a sweep: the deflated Sharpe ratio of its best combination and, on request,
the probability of backtest overfitting of picking its in-sample best (formulas: ``optimize.overfit``).

Per-bar returns: ``r_t = equity_t / equity_{t-1} − 1`` of the equity curve (one point per traded bar,
as in ``backtest.metrics``); a bar after the equity reached 0 or less returns 0 (a dead account stays
dead rather than turning the matrix non-finite).

PBO needs the per-bar returns of many combinations, a [bars − 1, combos] float64 matrix. The combos
are re-simulated with the batched engine in the engine's chunks (``CHUNK_ELEMENTS`` per positions
tensor), keeping each chunk's equity curves only long enough to turn them into returns. The matrix is
capped at ``PBO_MAX_BYTES``: every combo when it fits, otherwise a seeded uniform sample of as many as
fit. A uniform sample, not the top of the ranking: the top by full-period rank were chosen with the
out-of-sample halves' data too, which would bias PBO down. The JSON says how many were used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from torchtrader.errors import ConfigError
from torchtrader.optimize.overfit import DeflatedSharpe, PboResult, deflated_sharpe, pbo_cscv
from torchtrader.timeframes import bars_per_year

if TYPE_CHECKING:
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.results import SweepResult
    from torchtrader.backtest.runner import SeriesRef
    from torchtrader.lake import Lake
    from torchtrader.strategies import Bars, Strategy, StrategyParams

logger = logging.getLogger(__name__)

PBO_MAX_BYTES = 512 * 1024 * 1024
PBO_SPLITS = 16


def equity_returns(equity: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per-bar simple returns along the last axis of equity curves (see the module docstring)."""
    curve = np.asarray(equity, dtype=np.float64)
    before, after = curve[..., :-1], curve[..., 1:]
    alive = before > 0
    return np.where(alive, after / np.where(alive, before, 1.0) - 1.0, 0.0)


def sweep_deflated_sharpe(result: SweepResult) -> DeflatedSharpe | None:
    """DSR of the sweep's best combination against the Sharpes of all its combinations (None when the
    sweep kept no full result)."""
    if not result.top:
        return None
    best = equity_returns(result.top[0].equity["equity"].to_numpy())
    trials = result.metrics["sharpe"].cast(float).fill_null(float("nan")).to_numpy()
    return deflated_sharpe(best, trials, periods_per_year=bars_per_year(result.timeframe))


def combo_returns(
    strategy: Strategy,
    bars: Bars,
    params: Sequence[StrategyParams],
    config: BacktestConfig,
    *,
    trade_from: int = 0,
) -> np.ndarray[Any, Any]:
    """[len(bars) − trade_from − 1, len(params)] per-bar returns of every combination, traded (flat
    start) from bar ``trade_from`` with the bars before it as warm-up — the same runs as ``run_sweep``."""
    from torchtrader.backtest.engine import CHUNK_ELEMENTS, sweep_order, trading_window
    from torchtrader.backtest.engine_sim import StopIndex, resolve_device, resolve_dtype, simulate
    from torchtrader.strategies.base import ParamBatch
    from torchtrader.strategies.fence import run_positions

    device, dtype = resolve_device(config.device), resolve_dtype(config.dtype)
    prepared = bars if (bars.device, bars.dtype) == (device, dtype) else bars.to(device=device, dtype=dtype)
    traded = trading_window(prepared, trade_from)
    stops = None
    if config.stop_loss is not None or config.take_profit is not None:
        stops = StopIndex(traded.low, traded.high)
    out = np.empty((len(traded) - 1, len(params)))
    chunk = max(1, CHUNK_ELEMENTS // max(len(prepared), 1))
    order = sweep_order(params)  # neighbours share indicator rows in the bars' memo
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        batch = ParamBatch.from_params([params[i] for i in rows], device=device, dtype=dtype)
        positions = run_positions(strategy, prepared, batch)[:, trade_from:]
        simulated = simulate(positions, traded, config, stop_index=stops)
        assert simulated.equity is not None
        out[:, rows] = equity_returns(simulated.equity.double().cpu().numpy()).T
    return out


def pbo_of_combos(
    strategy: Strategy,
    bars: Bars,
    params: Sequence[StrategyParams],
    config: BacktestConfig,
    *,
    trade_from: int = 0,
    n_splits: int = PBO_SPLITS,
    max_bytes: int = PBO_MAX_BYTES,
    seed: int = 0,
) -> PboResult:
    """PBO (CSCV) of choosing the best of ``params`` on these bars, under the memory cap."""
    n_returns = len(bars) - trade_from - 1
    if n_returns < 2 * n_splits:
        raise ConfigError(
            f"PBO with {n_splits} splits needs at least {2 * n_splits + 1} traded bars, got {n_returns + 1}:"
            " widen the date range or lower the number of splits"
        )
    fit = max(2, max_bytes // (8 * max(n_returns, 1)))
    chosen = list(params)
    if len(chosen) > fit:
        picked = np.sort(np.random.default_rng(seed).choice(len(chosen), size=fit, replace=False))
        logger.info("PBO on a seeded sample of %d of %d combos (cap %d bytes)", fit, len(chosen), max_bytes)
        chosen = [chosen[int(i)] for i in picked]
    returns = combo_returns(strategy, bars, chosen, config, trade_from=trade_from)
    return pbo_cscv(returns, n_splits=n_splits)


def params_of_frame(cls: Any, frame: Any) -> list[StrategyParams]:
    """The StrategyParams of every row of a sweep's metrics frame (its non-metric columns)."""
    from torchtrader.backtest.results import Metrics
    from torchtrader.strategies import parse_params

    names = [c for c in frame.columns if c not in Metrics.names()]
    return [parse_params(cls, row) for row in frame.select(names).iter_rows(named=True)]


def sweep_pbo(
    lake: Lake,
    series: SeriesRef,
    strategy: str,
    result: SweepResult,
    config: BacktestConfig | None = None,
    *,
    strategies_dir: str | None = None,
    n_splits: int = PBO_SPLITS,
    max_bytes: int = PBO_MAX_BYTES,
    seed: int = 0,
) -> PboResult:
    """PBO of ``result`` (a ``runner.sweep`` of ``strategy`` on ``series``): its combos re-run on the
    exact bars (lake version, date range) the sweep read."""
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.runner import load_bars, strategy_warmup, trade_start
    from torchtrader.strategies import load_strategy

    cls = load_strategy(strategy, strategies_dir)
    instance = cls()
    params = params_of_frame(cls, result.metrics)
    start, end = result.start, result.end
    warmup = strategy_warmup(instance, params) if start is not None else 0
    bars, _ = load_bars(lake, series, version=result.lake_version, start=start, end=end, warmup=warmup)
    return pbo_of_combos(
        instance,
        bars,
        params,
        config or BacktestConfig(),
        trade_from=trade_start(bars, start),
        n_splits=n_splits,
        max_bytes=max_bytes,
        seed=seed,
    )
