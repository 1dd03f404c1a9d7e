"""Volume kernels: MFI (money flow index) and OBV (on-balance volume).

Shapes and warm-up follow the package conventions (see ``_core``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchtrader.indicators.kernels import _backend
from torchtrader.indicators.kernels._core import (
    Period,
    empty,
    expand_rows,
    mask_before,
    period,
    positions,
    prepare,
    rolling_sum,
    shift,
)
from torchtrader.indicators.kernels.momentum import _ratio


def mfi(high: Tensor, low: Tensor, close: Tensor, volume: Tensor, timeperiod: Period = 14) -> Tensor:
    """Money flow index (TA-Lib MFI); NaN for ``timeperiod`` bars.

    A window without any money flow (flat typical price or zero volume) gives 0. TA-Lib's running
    sums leave round-off residues there (flows added and later subtracted), so its value in such a
    window is noise; ours is exact because empty sides are detected by counting flows.
    """
    b = prepare("mfi", [high, low, close, volume], [timeperiod])
    n = period("mfi", "timeperiod", timeperiod, b, minimum=2)
    size = b.size
    if _backend.compiled(b.series[0]):
        out = empty((size, b.length), b.dtype, b.device)
        typical = (b.series[0] + b.series[1] + b.series[2]) / 3.0
        flow = typical * b.series[3]
        rising = torch.zeros_like(flow, dtype=torch.bool)
        falling = torch.zeros_like(rising)
        rising[:, 1:] = typical[:, 1:] > typical[:, :-1]
        falling[:, 1:] = typical[:, 1:] < typical[:, :-1]
        zero = torch.zeros((), dtype=flow.dtype)
        _backend.run("mfi", torch.where(rising, flow, zero), torch.where(falling, flow, zero), n, out)
        return b.out(out)
    typical = expand_rows((b.series[0] + b.series[1] + b.series[2]) / 3.0, size)
    flow = typical * expand_rows(b.series[3], size)
    previous = shift(typical, torch.ones_like(n))
    t = positions(b.length, b.device)
    later = t >= 1
    zero = torch.zeros_like(flow)
    sums = []
    for side in (later & (typical > previous), later & (typical < previous)):
        amount = torch.where(side, flow, zero)
        count = rolling_sum((amount != 0).to(flow.dtype), n, size)
        sums.append(torch.where(count == 0, zero, rolling_sum(amount, n, size)))
    pos, neg = sums
    total = pos + neg
    return b.out(mask_before(_ratio(pos, total, total == 0, 100.0), n))


def obv(close: Tensor, volume: Tensor) -> Tensor:
    """On-balance volume (TA-Lib OBV): starts at the first volume, no warm-up."""
    b = prepare("obv", [close, volume], [])
    x, v = b.series
    change = x[:, 1:] - x[:, :-1]
    signed = torch.sign(change).to(torch.float64) * v[:, 1:].to(torch.float64)
    steps = torch.cat([v[:, :1].to(torch.float64), signed], dim=-1)
    return b.out(torch.cumsum(steps, dim=-1).to(x.dtype))
