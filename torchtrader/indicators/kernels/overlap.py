"""Moving averages and bands (TA-Lib "overlap studies"): SMA, EMA, WMA, DEMA, TEMA, BBANDS.

Shapes and warm-up follow the package conventions (see ``_core``). The ``_``-prefixed helpers take
``[B, T]`` values valid from a per-row ``start`` and return the result plus its own first valid
index, so the indicators that chain averages share one implementation of each.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchtrader.indicators.kernels._core import (
    Period,
    expand_rows,
    mask_before,
    period,
    positions,
    prepare,
    rolling_sum,
    scalar,
    shift,
    window_mean,
    zero_before,
)
from torchtrader.indicators.kernels._scan import seeded_smoothing


def _sma(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    return window_mean(x, window, start)


def _ema(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """TA-Lib's EMA: seeded with the SMA of the first ``window`` valid values, then k = 2/(n+1)."""
    return seeded_smoothing(x, window, start, 2.0 / (window.to(torch.float64) + 1.0))


# the WMA's running sum restarts from an exact value every this many bars
_WMA_RESTART = 1024


def _weighted_at(x: Tensor, window: Tensor, start: Tensor, where: Tensor) -> Tensor:
    """Exact WMA numerators sum_k (n - k) * x[t - k] at positions ``where`` ([B, K] int64)."""
    rows = expand_rows(x, int(window.shape[0])).to(torch.float64)
    total = torch.zeros(where.shape, dtype=torch.float64, device=x.device)
    for k in range(int(window.max())):
        index = where - k
        usable = (k < window.unsqueeze(1)) & (index >= start.unsqueeze(1))
        values = torch.gather(rows, 1, index.clamp_min(0))
        weight = (window.unsqueeze(1) - k).to(torch.float64)
        total += torch.where(usable, weight * values, torch.zeros_like(values))
    return total


def _wma(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """Linear weights n..1 (newest heaviest) over n(n+1)/2, as TA-Lib.

    The weighted sum obeys N[t] = N[t-1] + n*x[t] - S[t-1] (S = plain window sum): a cumulative sum
    of bounded increments, restarted from an exactly computed N every 1024 bars so that round-off
    cannot drift on long series.
    """
    size, length = int(window.shape[0]), x.shape[-1]
    clean = zero_before(x, start).to(torch.float64)
    n = window.to(torch.float64).unsqueeze(1)
    plain = rolling_sum(clean, window, size)
    first = start + window - 1
    t = positions(length, x.device)
    f = first.unsqueeze(1)
    increment = n * clean - shift(plain, torch.ones_like(window))
    increment = torch.where(t < f, torch.zeros_like(increment), increment)
    blocks = -(-length // _WMA_RESTART)
    anchors = torch.arange(blocks, device=x.device).unsqueeze(0) * _WMA_RESTART
    anchors = torch.where(anchors < f, f.clamp_max(length - 1), anchors).expand(size, blocks)
    exact = _weighted_at(x, window, start, anchors)
    valid = anchors >= f
    increment = increment.scatter(1, anchors, torch.where(valid, exact, increment.gather(1, anchors)))
    pad = blocks * _WMA_RESTART - length
    padded = torch.nn.functional.pad(increment, (0, pad)).reshape(size, blocks, _WMA_RESTART)
    numerator = torch.cumsum(padded, dim=-1).reshape(size, -1)[:, :length]
    out = (numerator / (n * (n + 1.0) / 2.0)).to(x.dtype)
    return mask_before(out, first), first


def sma(close: Tensor, timeperiod: Period = 30) -> Tensor:
    """Simple moving average (TA-Lib SMA); NaN for the first ``timeperiod - 1`` bars."""
    b = prepare("sma", [close], [timeperiod])
    n = period("sma", "timeperiod", timeperiod, b)
    return b.out(_sma(b.series[0], n, torch.zeros_like(n))[0])


def ema(close: Tensor, timeperiod: Period = 30) -> Tensor:
    """Exponential moving average (TA-Lib EMA: SMA seed, k = 2/(n+1)); NaN for ``timeperiod - 1`` bars."""
    b = prepare("ema", [close], [timeperiod])
    n = period("ema", "timeperiod", timeperiod, b)
    return b.out(_ema(b.series[0], n, torch.zeros_like(n))[0])


def wma(close: Tensor, timeperiod: Period = 30) -> Tensor:
    """Linearly weighted moving average (TA-Lib WMA); NaN for ``timeperiod - 1`` bars."""
    b = prepare("wma", [close], [timeperiod])
    n = period("wma", "timeperiod", timeperiod, b)
    return b.out(_wma(b.series[0], n, torch.zeros_like(n))[0])


def dema(close: Tensor, timeperiod: Period = 30) -> Tensor:
    """Double EMA ``2*EMA - EMA(EMA)`` (TA-Lib DEMA); NaN for ``2*(timeperiod-1)`` bars."""
    b = prepare("dema", [close], [timeperiod])
    n = period("dema", "timeperiod", timeperiod, b)
    e1, f1 = _ema(b.series[0], n, torch.zeros_like(n))
    e2, f2 = _ema(e1, n, f1)
    return b.out(mask_before(2.0 * e1 - e2, f2))


def tema(close: Tensor, timeperiod: Period = 30) -> Tensor:
    """Triple EMA ``3*E1 - 3*E2 + E3`` (TA-Lib TEMA); NaN for ``3*(timeperiod-1)`` bars."""
    b = prepare("tema", [close], [timeperiod])
    n = period("tema", "timeperiod", timeperiod, b)
    e1, f1 = _ema(b.series[0], n, torch.zeros_like(n))
    e2, f2 = _ema(e1, n, f1)
    e3, f3 = _ema(e2, n, f2)
    return b.out(mask_before(3.0 * e1 - 3.0 * e2 + e3, f3))


# up to this window length the deviation is summed directly (two-pass, exact to round-off)
_DIRECT_STDDEV_MAX = 64


def _stddev(x: Tensor, mean: Tensor, window: Tensor, start: Tensor) -> Tensor:
    """Population standard deviation of each window around its precomputed SMA.

    TA-Lib computes sqrt(E[x^2] - mean^2) with exact-ish sequential running sums. A cumulative-sum
    version of that formula drifts by ~1e-8 in the variance on index-level prices, which is visible
    in the bands of short, quiet windows; so windows up to 64 bars sum (x - mean)^2 directly
    (O(B*T*n)), and longer windows (large variance, small relative drift) use running sums. A constant
    window is detected exactly and gets a zero deviation (TA-Lib returns round-off noise there).
    """
    size, length = int(window.shape[0]), x.shape[-1]
    clean = zero_before(x, start).to(torch.float64)
    n = window.unsqueeze(1).to(torch.float64)
    variance = torch.empty((size, length), dtype=torch.float64, device=x.device)
    direct = window <= _DIRECT_STDDEV_MAX
    if bool(direct.any()):
        rows = direct.nonzero().squeeze(1)
        values = expand_rows(clean, size)[rows]
        center = mean[rows].to(torch.float64)
        squares = torch.zeros_like(center)
        short = window[rows].unsqueeze(1)
        for lag in range(min(int(window[rows].max()), length)):
            term = (values[:, : length - lag] - center[:, lag:]) ** 2
            squares[:, lag:] += torch.where(short > lag, term, torch.zeros_like(term))
        variance[rows] = squares / n[rows]
    if not bool(direct.all()):
        rows = (~direct).nonzero().squeeze(1)
        # long windows: running sums for both moments, so they drift together (TA-Lib's scheme)
        values = expand_rows(clean, size)[rows]
        count = n[rows]
        first_moment = rolling_sum(values, window[rows], rows.numel()) / count
        second_moment = rolling_sum(values**2, window[rows], rows.numel()) / count
        variance[rows] = second_moment - first_moment**2
    moved = (clean != shift(clean, torch.ones_like(window))).to(torch.float64)
    constant = rolling_sum(moved, window - 1, size) == 0
    # TA-Lib's zero guard: a variance below 1e-14 is a zero deviation
    keep = (variance >= 1e-14) & ~constant
    return torch.where(keep, variance, torch.zeros_like(variance)).sqrt().to(x.dtype)


def bbands(
    close: Tensor,
    timeperiod: Period = 5,
    nbdevup: float | Tensor = 2.0,
    nbdevdn: float | Tensor = 2.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Bollinger bands over an SMA (TA-Lib BBANDS, matype 0): ``(upper, middle, lower)``.

    ``nbdevup``/``nbdevdn`` are floats or ``[B]`` tensors; NaN for the first ``timeperiod - 1`` bars.
    """
    b = prepare("bbands", [close], [timeperiod, *(v for v in (nbdevup, nbdevdn) if isinstance(v, Tensor))])
    n = period("bbands", "timeperiod", timeperiod, b)
    up, dn = scalar("bbands", "nbdevup", nbdevup, b), scalar("bbands", "nbdevdn", nbdevdn, b)
    start = torch.zeros_like(n)
    middle, _ = _sma(b.series[0], n, start)
    deviation = _stddev(b.series[0], middle, n, start)
    upper, lower = middle + up * deviation, middle - dn * deviation
    return b.out(upper), b.out(middle), b.out(lower)
