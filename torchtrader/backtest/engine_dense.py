"""The dense half of the kernel: equity at every bar and the equity-curve metrics, in cache-sized blocks.

Every bar's equity is "cash + units × close" with (cash, units) piecewise constant between fills, so
a bar's state is the number of fills at or before it (``state`` index into per-combo state tables).
The curve and its statistics are computed block by block along time (blocks of ~128 k values stay in
cache, which makes the dozen passes several times faster than over a whole [combos, bars] array),
carrying between blocks: the state count, the previous equity, the running peak (value and bar) and
the sums of returns. Formulas are those of ``torchtrader.backtest.metrics`` (the unblocked reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

BLOCK_ELEMENTS = 1 << 17
GPU_BLOCK_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class Fills:
    """Every fill of a batch, sorted by bar: combo, bar, and the state tables they index."""

    combo: Tensor  # int64 [F]
    bar: Tensor  # int64 [F], non-decreasing
    cash: Tensor  # [B, S] cash after the s-th fill of each combo (column 0: initial cash)
    units: Tensor  # [B, S] signed units after the s-th fill


def curve_and_metrics(
    fills: Fills, closes: Tensor, ppy: float, *, out: Tensor | None = None
) -> dict[str, Tensor]:
    """Equity-curve metrics per combo (names of metrics.EQUITY_METRICS); the curve goes to ``out``."""
    n_combos, n_bars = fills.cash.shape[0], closes.shape[0]
    dtype, device = closes.dtype, closes.device
    # Cache blocking pays on CPU; on a GPU, fewer and larger launches win.
    budget = BLOCK_ELEMENTS if device.type == "cpu" else GPU_BLOCK_ELEMENTS
    width = max(256, budget // max(n_combos, 1))
    state_buf = torch.empty((n_combos, width), dtype=torch.int64, device=device)
    eq_buf = torch.empty((n_combos, width), dtype=dtype, device=device)
    tmp_buf = torch.empty((n_combos, width), dtype=dtype, device=device)
    peak_at_buf = torch.empty((n_combos, width), dtype=torch.int64, device=device)

    count = torch.zeros(n_combos, dtype=torch.int64, device=device)
    prev = fills.cash[:, 0].clone()
    start_equity = prev.clone()
    peak, peak_at = prev.clone(), torch.zeros(n_combos, dtype=torch.int64, device=device)
    total = torch.zeros(n_combos, dtype=torch.float64, device=device)
    squares = torch.zeros_like(total)
    downside = torch.zeros_like(total)
    worst = torch.ones(n_combos, dtype=dtype, device=device)  # min of equity / peak
    longest = torch.zeros(n_combos, dtype=torch.int64, device=device)
    bounds = torch.searchsorted(fills.bar, torch.arange(0, n_bars + width, width, device=device))
    ones = torch.ones_like(fills.combo)
    steps = torch.arange(n_bars, device=device)

    for block, start in enumerate(range(0, n_bars, width)):
        stop = min(start + width, n_bars)
        w = stop - start
        state, eq, tmp, at = state_buf[:, :w], eq_buf[:, :w], tmp_buf[:, :w], peak_at_buf[:, :w]
        if out is not None:
            eq = out[:, start:stop]
        lo, hi = int(bounds[block]), int(bounds[block + 1])
        state.zero_()
        state.index_put_((fills.combo[lo:hi], fills.bar[lo:hi] - start), ones[lo:hi], accumulate=True)
        torch.cumsum(state, dim=1, out=state).add_(count.unsqueeze(1))
        count = state[:, -1].clone()
        torch.gather(fills.units, 1, state, out=eq).mul_(closes[start:stop])
        eq.add_(torch.gather(fills.cash, 1, state, out=tmp))

        # Returns r_t = eq_t / eq_{t-1} − 1; the first bar of the series has none.
        torch.div(eq[:, 1:], eq[:, :-1], out=tmp[:, 1:])
        tmp[:, 0] = eq[:, 0] / prev
        returns = tmp if block else tmp[:, 1:]
        returns.sub_(1)
        total += returns.sum(dim=1, dtype=torch.float64)
        squares += torch.linalg.vector_norm(returns, dim=1, dtype=torch.float64).square()
        downside += torch.linalg.vector_norm(returns.clamp_(max=0), dim=1, dtype=torch.float64).square()
        prev = eq[:, -1].clone()

        # Running peak carried in from earlier blocks; ties go to the later bar (cummax does the same).
        block_peak, block_at = torch.cummax(eq, dim=1, out=(tmp, at))
        carried = peak.unsqueeze(1) > block_peak
        block_at.add_(start)
        torch.where(carried, peak_at.unsqueeze(1), block_at, out=block_at)
        torch.maximum(block_peak, peak.unsqueeze(1), out=block_peak)
        peak, peak_at = block_peak[:, -1].clone(), block_at[:, -1].clone()
        worst = torch.minimum(worst, torch.div(eq, block_peak, out=block_peak).amin(dim=1))
        longest = torch.maximum(longest, torch.sub(steps[start:stop], block_at, out=block_at).amax(dim=1))

    return _finish(start_equity, prev, total, squares, downside, worst, longest, n_bars - 1, ppy, dtype)


def _finish(
    start: Tensor,
    end: Tensor,
    total: Tensor,
    squares: Tensor,
    downside: Tensor,
    worst: Tensor,
    longest: Tensor,
    n: int,
    ppy: float,
    dtype: torch.dtype,
) -> dict[str, Tensor]:
    nan = torch.full_like(total, math.nan)
    growth = (end / start).to(torch.float64)
    cagr = torch.where(growth > 0, growth.clamp(min=0) ** (ppy / n) - 1, torch.full_like(growth, -1.0))
    mean = total / n
    if n > 1:
        std = ((squares - total * mean) / (n - 1)).clamp(min=0).sqrt()
    else:
        std = nan
    scale = math.sqrt(ppy)
    # A constant series can leave float dust in the variance; treat relative dust as zero.
    std = torch.where(std > 1e-13 * mean.abs(), std, torch.zeros_like(std))
    down = (downside / n).sqrt()
    max_drawdown = (1 - worst).to(torch.float64)
    values = {
        "total_return": growth - 1,
        "cagr": cagr,
        "volatility": std * scale,
        "sharpe": torch.where(std > 0, mean / std * scale, nan),
        "sortino": torch.where(down > 0, mean / down * scale, nan),
        "calmar": torch.where(max_drawdown > 0, cagr / max_drawdown, nan),
        "max_drawdown": max_drawdown,
        "max_drawdown_duration": longest.to(torch.float64),
    }
    return {name: value.to(dtype) for name, value in values.items()}
