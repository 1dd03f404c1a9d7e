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
    linear_scan,
    mask_before,
    period,
    positions,
    prepare,
    rolling_sum,
    scalar,
    shift,
    zero_before,
)


def _sma(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    size = int(window.shape[0])
    total = rolling_sum(zero_before(x, start), window, size)
    first = start + window - 1
    return mask_before(total / window.unsqueeze(1).to(x.dtype), first), first


def _ema(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """TA-Lib's EMA: seeded with the SMA of the first ``window`` valid values, then k = 2/(n+1)."""
    size, length = int(window.shape[0]), x.shape[-1]
    seed, first = _sma(x, window, start)
    alpha = (2.0 / (window.to(x.dtype) + 1.0)).unsqueeze(1)
    t = positions(length, x.device)
    f = first.unsqueeze(1)
    clean = zero_before(x, start)
    u = torch.where(t == f, torch.nan_to_num(seed, nan=0.0), alpha * clean)
    u = torch.where(t < f, torch.zeros_like(u), u)
    decay = (1.0 - alpha).expand(size, 1)
    if bool((decay > 0).all()):
        y = linear_scan(u, decay)
    else:  # period 1 (k = 1): the average is the series itself
        y = torch.where(decay > 0, linear_scan(u, decay.clamp_min(1e-3)), u)
    return mask_before(y, first), first


def _wma(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """Linear weights n..1 (newest heaviest) over n(n+1)/2, updated like TA-Lib's running sums.

    The weighted sum obeys N[t] = N[t-1] + n*x[t] - S[t-1] (S = plain window sum), a cumulative sum
    of bounded increments; this keeps magnitudes near n^2*|x| instead of T^2*|x|.
    """
    size = int(window.shape[0])
    clean = zero_before(x, start).to(torch.float64)
    n = window.to(torch.float64).unsqueeze(1)
    plain = rolling_sum(clean, window, size)
    first = start + window - 1
    t = positions(x.shape[-1], x.device)
    f = first.unsqueeze(1)
    # first full window directly: sum over i of (i - start + 1) * x[i] for i in [start, first]
    ramp = (t - start.unsqueeze(1) + 1).clamp_min(0).to(torch.float64)
    weighted_head = rolling_sum(ramp * clean, window, size)
    increment = n * clean - shift(plain, torch.ones_like(window))
    increment = torch.where(t == f, weighted_head, increment)
    increment = torch.where(t < f, torch.zeros_like(increment), increment)
    numerator = torch.cumsum(increment, dim=-1)
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
    (O(B*T*n)), and longer windows (large variance, negligible drift) use running sums. A constant
    window is detected exactly and gets a zero deviation (TA-Lib returns round-off noise there).
    """
    size, length = int(window.shape[0]), x.shape[-1]
    clean = zero_before(x, start).to(torch.float64)
    n = window.unsqueeze(1).to(torch.float64)
    center = mean.to(torch.float64)
    if int(window.max()) <= _DIRECT_STDDEV_MAX:
        rows = expand_rows(clean, size)
        squares = torch.zeros_like(center)
        for lag in range(min(int(window.max()), length)):
            term = (rows[:, : length - lag] - center[:, lag:]) ** 2
            squares[:, lag:] += torch.where(window.unsqueeze(1) > lag, term, torch.zeros_like(term))
        variance = squares / n
    else:
        variance = rolling_sum(clean**2, window, size) / n - center**2
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
