"""Trend-strength kernels over high, low and close: ADX (directional movement) and CCI.

Shapes and warm-up follow the package conventions (see ``_core``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from torchtrader.indicators.kernels import _backend
from torchtrader.indicators.kernels._core import (
    Period,
    empty,
    expand_rows,
    linear_scan,
    mask_before,
    period,
    positions,
    prepare,
    rolling_sum,
    shift,
)
from torchtrader.indicators.kernels.momentum import _EPSILON, _ratio
from torchtrader.indicators.kernels.volatility import _true_range


def adx(high: Tensor, low: Tensor, close: Tensor, timeperiod: Period = 14) -> Tensor:
    """Average directional index (TA-Lib ADX); NaN for ``2 * timeperiod - 1`` bars.

    TA-Lib sums the first ``n - 1`` directional moves and true ranges, then smooths with
    ``s - s/n + v``; bars whose true range or DI sum is (near) zero leave the ADX unchanged.
    """
    b = prepare("adx", [high, low, close], [timeperiod])
    n = period("adx", "timeperiod", timeperiod, b, minimum=2)
    size = b.size
    if _backend.compiled(b.series[0]):
        out = empty((size, b.length), b.dtype, b.device)
        _backend.run("adx", *b.series, n, out)
        return b.out(out)
    h, lo = (expand_rows(s, size) for s in b.series[:2])
    one = torch.ones_like(n)
    up = h - shift(h, one)
    down = shift(lo, one) - lo
    minus = torch.where((down > 0) & (up < down), down, torch.zeros_like(down))
    plus = torch.where((up > 0) & (up > down) & ~((down > 0) & (up < down)), up, torch.zeros_like(up))
    tr = expand_rows(_true_range(*b.series), size)
    t = positions(b.length, b.device)
    nn = n.unsqueeze(1)
    head = nn - 1  # bar index holding the seed sums of bars 1 .. n-1
    nf = nn.to(b.dtype)
    decay = ((nf - 1.0) / nf).expand(size, 1)

    def smoothed(v: Tensor) -> Tensor:
        v = torch.where(t < 1, torch.zeros_like(v), v)
        seed = rolling_sum(v, n - 1, size)
        u = torch.where(t == head, seed, v)
        u = torch.where(t < head, torch.zeros_like(u), u)
        return linear_scan(u, decay)

    s_plus, s_minus, s_tr = smoothed(plus), smoothed(minus), smoothed(tr)
    tr_ok = s_tr.abs() >= _EPSILON
    di_plus = _ratio(s_plus, s_tr, ~tr_ok, 100.0)
    di_minus = _ratio(s_minus, s_tr, ~tr_ok, 100.0)
    di_sum = di_plus + di_minus
    valid = tr_ok & (di_sum.abs() >= _EPSILON) & (t >= nn)
    dx = _ratio((di_minus - di_plus).abs(), di_sum, ~valid, 100.0)
    first = 2 * n - 1
    f = first.unsqueeze(1)
    seed = rolling_sum(dx, n, size) / nf
    u = torch.where(t == f, seed, torch.where(valid, dx / nf, torch.zeros_like(dx)))
    u = torch.where(t < f, torch.zeros_like(u), u)
    step = torch.where(valid | (t <= f), decay.expand(size, b.length), torch.ones_like(dx))
    return b.out(mask_before(linear_scan(u, step), first))


def cci(high: Tensor, low: Tensor, close: Tensor, timeperiod: Period = 14) -> Tensor:
    """Commodity channel index (TA-Lib CCI, mean absolute deviation); NaN for ``timeperiod - 1`` bars.

    The mean deviation has no running form, so it costs O(B * T * max(timeperiod)) like TA-Lib's.
    """
    b = prepare("cci", [high, low, close], [timeperiod])
    n = period("cci", "timeperiod", timeperiod, b, minimum=2)
    # float64 inside: CCI divides the small difference typical - mean, ill-conditioned in float32
    h, lo, c = (s.to(torch.float64) for s in b.series)
    if _backend.compiled(h):
        out = empty((b.size, b.length), torch.float64, b.device)
        _backend.run("cci", (h + lo + c) / 3.0, n, out)
        return b.out(out.to(b.dtype))
    typical = expand_rows((h + lo + c) / 3.0, b.size)
    length, nn = b.length, n.unsqueeze(1)
    lags = range(min(int(n.max()), length))

    def window_sum(term_of: Callable[[int], Tensor]) -> Tensor:
        total = torch.zeros_like(typical)
        for lag in lags:
            term = term_of(lag)
            total[:, lag:] += torch.where(nn > lag, term, torch.zeros_like(term))
        return total

    # everything relative to the current typical price: CCI divides the small difference
    # typical - mean, and differences of nearby prices are exact, so a flat window gives exactly 0
    # (as TA-Lib's) instead of round-off of a mean of large numbers
    def offset(lag: int) -> Tensor:
        return typical[:, : length - lag] - typical[:, lag:]

    mean_offset = window_sum(offset) / nn.to(torch.float64)
    deviation = window_sum(lambda lag: (offset(lag) - mean_offset[:, lag:]).abs())
    deviation = deviation / nn.to(torch.float64)
    first = n - 1
    spread = -mean_offset
    # TA-Lib skips a zero spread or deviation; relative to the price, anything within a few ulps is
    # round-off (e.g. a bar whose high and low straddle the previous typical price symmetrically)
    tiny = 1e-14 * typical.abs()
    value = _ratio(spread, 0.015 * deviation, (spread.abs() <= tiny) | (deviation <= tiny))
    return b.out(mask_before(value, first).to(b.dtype))
