"""Walk-forward statistics: the stitched out-of-sample equity, in-sample summary, PBO over the windows.

Stitching: each window's test backtest starts flat with the initial cash and closes any position at
its last close, so between two windows the account is flat. The stitched curve chains the windows'
curves, each rescaled to start where the previous one ended (``level / equity_0``); its return across
a boundary is therefore 0 (flat), and trade PnLs are rescaled with their window. Metrics are
``backtest.metrics``' on the stitched curve; exposure is the bar-weighted mean of the windows'.

In-sample summary (``is``): the windows' in-sample spans overlap (rolling) or nest (anchored), so no
single curve exists; it is the mean of each in-sample metric over the windows (``n_trades``: their sum).

PBO: every candidate combination (the searched grid, sampled under ``sweep_stats.PBO_MAX_BYTES``) is
run flat-start on each test span exactly like the chosen one, the windows' per-bar returns stacked
(a 0 return at each boundary, as in the stitched curve) into one [bars − 1, candidates] matrix for
CSCV. The number of splits is 16, or the largest even number that leaves 2 bars per block.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from torchtrader.backtest.results import Metrics
from torchtrader.optimize.overfit import PboResult, pbo_cscv
from torchtrader.optimize.sweep_stats import PBO_MAX_BYTES, PBO_SPLITS, combo_returns

if TYPE_CHECKING:
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.results import BacktestResult
    from torchtrader.backtest.runner import SeriesRef
    from torchtrader.lake import Lake
    from torchtrader.optimize.windows import Window
    from torchtrader.strategies import Strategy, StrategyParams


def stitch_equity(curves: Sequence[np.ndarray[Any, Any]]) -> tuple[np.ndarray[Any, Any], list[float]]:
    """The chained curve and each window's scale factor (see the module docstring)."""
    pieces, scales = [], []
    level = float(curves[0][0]) if curves else 0.0
    for curve in curves:
        scale = level / float(curve[0])
        pieces.append(np.asarray(curve, dtype=np.float64) * scale)
        scales.append(scale)
        level = float(pieces[-1][-1])
    return (np.concatenate(pieces) if pieces else np.empty(0)), scales


def stitched_metrics(results: Sequence[BacktestResult]) -> tuple[Metrics, np.ndarray[Any, Any]]:
    """Metrics of the stitched out-of-sample curve of the windows' test results, and the curve."""
    from torchtrader.backtest.metrics import compute_metrics

    curves = [r.equity["equity"].to_numpy() for r in results]
    equity, scales = stitch_equity(curves)
    pnls = [t.pnl * scale for r, scale in zip(results, scales, strict=True) for t in r.trades]
    metrics = compute_metrics(equity, pnls, timeframe=results[0].timeframe)
    weights = [len(c) for c in curves]
    exposures = [r.metrics.exposure for r in results]
    exposure = math.nan
    if all(math.isfinite(e) for e in exposures):
        exposure = float(np.average(exposures, weights=weights))
    return dataclasses.replace(metrics, exposure=exposure), equity


def mean_metrics(metrics: Sequence[Metrics]) -> Metrics:
    """Each metric's mean over the windows (NaN when any is NaN); trades summed."""
    values: dict[str, Any] = {}
    for name in Metrics.names():
        column = [float(getattr(m, name)) for m in metrics]
        values[name] = float(np.mean(column)) if column else math.nan
    values["n_trades"] = int(sum(m.n_trades for m in metrics))
    return Metrics(**values)


def splits_for(n_returns: int, wanted: int = PBO_SPLITS) -> int:
    """The CSCV split count: ``wanted`` or the largest even number leaving 2 returns per block."""
    fit = n_returns // 2
    return min(wanted, fit - fit % 2)


def walkforward_pbo(
    lake: Lake,
    series: SeriesRef,
    strategy: Strategy,
    candidates: Sequence[StrategyParams],
    windows: Sequence[Window],
    config: BacktestConfig,
    *,
    version: int | None,
    seed: int = 0,
    max_bytes: int = PBO_MAX_BYTES,
) -> PboResult | None:
    """PBO of choosing among ``candidates`` over the windows' test spans (None with < 2 candidates or
    too few bars for 2 splits)."""
    from torchtrader.backtest.runner import load_bars, strategy_warmup, trade_start

    chosen = list(candidates)
    if len(chosen) < 2:
        return None
    warmup = strategy_warmup(strategy, chosen)
    loaded = [
        load_bars(lake, series, version=version, start=w.test_start, end=w.test_end, warmup=warmup)[0]
        for w in windows
    ]
    starts = [trade_start(bars, w.test_start) for bars, w in zip(loaded, windows, strict=True)]
    n_returns = sum(len(b) - s for b, s in zip(loaded, starts, strict=True)) - 1
    fit = max(2, max_bytes // (8 * max(n_returns, 1)))
    if len(chosen) > fit:
        picked = np.sort(np.random.default_rng(seed).choice(len(chosen), size=fit, replace=False))
        chosen = [chosen[int(i)] for i in picked]
    blocks: list[np.ndarray[Any, Any]] = []
    for bars, start in zip(loaded, starts, strict=True):
        if blocks:
            blocks.append(np.zeros((1, len(chosen))))  # flat across the boundary
        blocks.append(combo_returns(strategy, bars, chosen, config, trade_from=start))
    matrix = np.vstack(blocks)
    n_splits = splits_for(matrix.shape[0])
    if n_splits < 2:
        return None
    return pbo_cscv(matrix, n_splits=n_splits)
