"""Performance metrics of equity curves: one run (`compute_metrics`) or thousands at once (batched).

Definitions (risk-free rate 0; ``ppy`` = ``timeframes.bars_per_year(timeframe)``; the equity curve has
one point per bar, its first point is the initial cash and its last the equity after the end-of-data
close; ``r_t = equity_t / equity_{t-1} − 1`` for t = 1..T−1, so there are n = T − 1 returns):

- total_return = equity_{T-1} / equity_0 − 1
- cagr = (equity_{T-1} / equity_0) ** (ppy / n) − 1   (−1 when the final equity is ≤ 0)
- volatility = std(r, ddof=1) · √ppy
- sharpe = mean(r) / std(r, ddof=1) · √ppy            (NaN when std is 0 or n < 2)
- sortino = mean(r) / √mean(min(r, 0)²) · √ppy        (downside deviation over all n returns; NaN if 0)
- max_drawdown = max_t (1 − equity_t / max_{s≤t} equity_s), a positive fraction
- max_drawdown_duration = max_t (t − last index ≤ t where equity reached its running maximum), in bars
- calmar = cagr / max_drawdown                          (NaN when max_drawdown is 0)
- win_rate = #(pnl > 0) / n_trades; profit_factor = Σ pnl⁺ / |Σ pnl⁻| (inf with gains and no losses);
  avg_trade = mean(pnl); all three NaN without trades (profit_factor NaN when Σ pnl⁺ = Σ pnl⁻ = 0)
- exposure = bars whose close saw a position held / T

The benchmark (``buy_and_hold``) applies the equity-curve formulas to close_t / close_0 of the same
bars (weighted and summed, plus uninvested cash, for a portfolio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from torchtrader.backtest.results import Benchmark, Metrics
from torchtrader.errors import BacktestError
from torchtrader.timeframes import bars_per_year

EQUITY_METRICS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
)
TRADE_METRICS = ("win_rate", "profit_factor", "n_trades", "avg_trade")


def equity_metrics(
    equity: Tensor, ppy: float, *, scratch: Tensor | None = None, index: Tensor | None = None
) -> dict[str, Tensor]:
    """Equity-curve metrics of a batch: ``equity`` [B, T] → one tensor [B] per name in EQUITY_METRICS.

    ``scratch`` (float, like ``equity``) and ``index`` (int64, same shape) are optional reusable
    buffers; without them two [B, T] temporaries are allocated. ``equity`` itself is not modified.
    """
    if equity.ndim != 2 or equity.shape[1] < 2:
        raise BacktestError(f"equity must be [combos, bars] with at least 2 bars, got {tuple(equity.shape)}")
    scratch = torch.empty_like(equity) if scratch is None else scratch
    index = torch.empty(equity.shape, dtype=torch.int64, device=equity.device) if index is None else index
    n_combos, n = equity.shape[0], equity.shape[1] - 1
    nan = torch.full((n_combos,), math.nan, dtype=equity.dtype, device=equity.device)
    start, end = equity[:, 0], equity[:, -1]
    growth = end / start
    total_return = growth - 1
    cagr = torch.where(growth > 0, growth.clamp(min=0) ** (ppy / n) - 1, torch.full_like(growth, -1.0))

    # Per-bar returns in the first n columns' worth of the (contiguous) scratch buffer.
    returns = scratch.view(-1)[: n_combos * n].view(n_combos, n)
    torch.div(equity[:, 1:], equity[:, :-1], out=returns).sub_(1)
    if n > 1:
        std, mean = torch.std_mean(returns, dim=1)
    else:
        std, mean = nan, returns.mean(dim=1)
    scale = math.sqrt(ppy)
    volatility = std * scale
    sharpe = torch.where(std > 0, mean / std * scale, nan)
    downside = torch.linalg.vector_norm(returns.clamp_(max=0), dim=1) / math.sqrt(n)
    sortino = torch.where(downside > 0, mean / downside * scale, nan)

    peak, peak_at = torch.cummax(equity, dim=1, out=(scratch, index))
    max_drawdown = 1 - torch.div(equity, peak, out=peak).amin(dim=1)
    # cummax reports the LAST index of a tie, so a flat stretch at the peak counts as no drawdown.
    bar = torch.arange(equity.shape[1], device=equity.device)
    duration = torch.sub(bar, peak_at, out=peak_at).amax(dim=1).to(equity.dtype)
    calmar = torch.where(max_drawdown > 0, cagr / max_drawdown, nan)
    return {
        "total_return": total_return,
        "cagr": cagr,
        "volatility": volatility,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": max_drawdown,
        "max_drawdown_duration": duration,
    }


def trade_metrics(combo: Tensor, pnl: Tensor, n_combos: int) -> dict[str, Tensor]:
    """Trade statistics per combo from a flat trade list (``combo`` [K] int64, ``pnl`` [K])."""
    dtype, device = pnl.dtype, pnl.device

    def per_combo(values: Tensor) -> Tensor:
        return torch.zeros(n_combos, dtype=dtype, device=device).index_add_(0, combo, values)

    count = per_combo(torch.ones_like(pnl))
    wins = per_combo((pnl > 0).to(dtype))
    gains = per_combo(pnl.clamp(min=0))
    losses = -per_combo(pnl.clamp(max=0))
    total = per_combo(pnl)
    nan = torch.full_like(count, math.nan)
    has = count > 0
    profit_factor = torch.where(
        losses > 0, gains / losses, torch.where(gains > 0, torch.full_like(gains, math.inf), nan)
    )
    return {
        "win_rate": torch.where(has, wins / count.clamp(min=1), nan),
        "profit_factor": torch.where(has, profit_factor, nan),
        "n_trades": count,
        "avg_trade": torch.where(has, total / count.clamp(min=1), nan),
    }


def metrics_at(values: dict[str, Tensor], index: int) -> Metrics:
    """The Metrics of one combo out of batched metric tensors."""
    row = {name: float(values[name][index]) for name in Metrics.names()}
    return Metrics(**{**row, "n_trades": int(row["n_trades"])})  # type: ignore[arg-type]


def compute_metrics(
    equity: np.ndarray | Tensor | Sequence[float],
    trade_pnls: np.ndarray | Tensor | Sequence[float] = (),
    *,
    timeframe: str,
    held: np.ndarray | Tensor | Sequence[bool] | None = None,
) -> Metrics:
    """Metrics of one equity curve (one point per bar) and its trades' net PnLs.

    ``held`` marks the bars whose close saw an open position (for exposure; NaN when not given).
    """
    eq = torch.as_tensor(np.asarray(equity, dtype=np.float64) if not isinstance(equity, Tensor) else equity)
    eq = eq.to(torch.float64).reshape(1, -1)
    pnl = torch.as_tensor(
        np.asarray(trade_pnls, dtype=np.float64) if not isinstance(trade_pnls, Tensor) else trade_pnls
    ).to(torch.float64)
    values = equity_metrics(eq, bars_per_year(timeframe))
    values.update(trade_metrics(torch.zeros(pnl.shape[0], dtype=torch.int64), pnl, 1))
    if held is None:
        values["exposure"] = torch.tensor([math.nan], dtype=torch.float64)
    else:
        mask = torch.as_tensor(np.asarray(held, dtype=bool) if not isinstance(held, Tensor) else held)
        values["exposure"] = mask.to(torch.float64).mean().reshape(1)
    return metrics_at(values, 0)


def buy_and_hold(
    closes: np.ndarray | Tensor | Sequence[float],
    *,
    timeframe: str,
    weights: Sequence[float] | None = None,
) -> Benchmark:
    """Buy at the first close, hold to the last: ``closes`` [T] (one series) or [S, T] with ``weights``.

    A portfolio holds weight_s of the equity in symbol s from the first close and the rest
    (1 − Σ weights) in cash, never rebalanced.
    """
    prices = np.asarray(closes.cpu() if isinstance(closes, Tensor) else closes, dtype=np.float64)
    prices = prices.reshape(1, -1) if prices.ndim == 1 else prices
    if prices.shape[1] < 2:
        raise BacktestError(f"a benchmark needs at least 2 bars, got {prices.shape[1]}")
    w = np.ones(1) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape[0] != prices.shape[0]:
        raise BacktestError(f"{w.shape[0]} weights for {prices.shape[0]} price series")
    curve = (1.0 - w.sum()) + (w[:, None] * prices / prices[:, :1]).sum(axis=0)
    values = equity_metrics(torch.from_numpy(curve).reshape(1, -1), bars_per_year(timeframe))
    return Benchmark(
        total_return=float(values["total_return"][0]),
        cagr=float(values["cagr"][0]),
        sharpe=float(values["sharpe"][0]),
        max_drawdown=float(values["max_drawdown"][0]),
    )
