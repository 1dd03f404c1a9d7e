"""TA-Lib's seeded exponential smoothing as a blocked matrix product (EMA, ATR, RSI, MACD).

``y[t] = d * y[t-1] + a * x[t]`` (``d = 1 - a``) is linear in x, so time is cut into blocks of
``_BLOCK`` bars and every block of every row comes out of one BLAS call per row: the block's inputs
times a ``[K, K]`` lower-triangular matrix of ``a * d**(i-j)``, plus the carry from the previous
block times ``d**(i+1)`` (the carry rides along as an extra input column, so the whole row is one
GEMM and one pass over the output). The carries are the same recursion on ``T / K`` block ends.

TA-Lib seeds the recursion with the mean of the first ``n`` valid values at ``f = start + n - 1``.
The scan runs from bar 0 instead (``z``, shared by every row with the same smoothing when the input
is shared) and the seed enters afterwards: ``y[t] = z[t] + d**(t-f) * (seed - z[f])`` for t >= f,
a correction that fades below float resolution after a few thousand bars.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchtrader.indicators.kernels._core import empty, linear_scan, zero_before

# block length: long enough that the per-row GEMM runs at BLAS speed, short enough that its
# K flops per output stay below the cost of the memory traffic
_BLOCK = 16


def _matrices(alpha: Tensor, dtype: torch.dtype) -> Tensor:
    """Per row ``[K + 1, K]``: rows 0..K-1 map block inputs to outputs, row K maps the carry."""
    k = torch.arange(_BLOCK, dtype=torch.float64)
    a = alpha.to(torch.float64).cpu().reshape(-1, 1, 1)
    d = 1.0 - a
    lag = k.reshape(1, 1, -1) - k.reshape(1, -1, 1)  # [1, j, i] = i - j
    inside = torch.where(lag >= 0, a * d ** lag.clamp_min(0.0), torch.zeros(()))
    carry = d ** (k + 1.0).reshape(1, 1, -1)
    return torch.cat([inside, carry.expand(a.shape[0], 1, _BLOCK)], dim=1).to(dtype)


def _fade_length(decay: float, length: int) -> int:
    """Bars after which ``decay**t`` is below float64 resolution (the seed correction's reach)."""
    if decay <= 0.0:
        return 1
    if decay >= 1.0:
        return length
    return min(length, int(math.log(1e-18) / math.log(decay)) + 2)


def seeded_smoothing(values: Tensor, window: Tensor, start: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """TA-Lib's seeded exponential smoothing, the recursion behind EMA, ATR, RSI and ADX.

    ``y[f] = mean(values[start .. f])`` with ``f = start + window - 1``, then
    ``y[t] = y[t-1] + alpha * (values[t] - y[t-1])``; NaN before ``f``. ``alpha`` is ``[B]``
    (2/(n+1) for an EMA, 1/n for Wilder's smoothing), values ``[1, T]`` (shared) or ``[B, T]``.
    """
    size, length = int(window.shape[0]), values.shape[-1]
    dtype, device = values.dtype, values.device
    first = start + window - 1
    out = empty((size, length), dtype, device)
    if length == 0:
        return out, first
    shared = values.shape[0] == 1
    blocks, full = -(-length // _BLOCK), length // _BLOCK
    matrices = _matrices(alpha, dtype).to(device)
    decay = (1.0 - alpha.to(torch.float64)).to(device)
    if shared:
        clean = zero_before(values, start) if bool(torch.isnan(values).any()) else values
        # the block inputs with the carry column: [1, blocks, K + 1], shared by every row
        augmented = torch.zeros((1, blocks, _BLOCK + 1), dtype=dtype, device=device)
        _fill(augmented[0], clean[0], 0)
    else:
        # one row each, written straight from the input (no [B, T] temporaries: they cost page
        # faults), values before each row's start zeroed: they are warm-up NaN of a chained kernel
        clean = values
        augmented = empty((size, blocks, _BLOCK + 1), dtype, device)
        for row, s in enumerate(start.tolist()):
            _fill(augmented[row], values[row], s)
    # block-end values from a zero carry, then the carry recursion over blocks
    last = matrices[:, :_BLOCK, _BLOCK - 1]  # [B, K]: weight of each block input in the block's end
    if shared:
        ends = torch.mm(augmented[0, :, :_BLOCK], last.T).T
    else:
        ends = torch.bmm(augmented[:, :, :_BLOCK], last.unsqueeze(-1)).squeeze(-1)
    block_decay = (decay**_BLOCK).clamp_min(1e-20).unsqueeze(1)
    carries = linear_scan(ends.to(torch.float64), block_decay).to(dtype)
    carries = torch.nn.functional.pad(carries[:, :-1], (1, 0))
    done: dict[float, int] = {}
    alphas = alpha.tolist()
    for row in range(size):
        if shared and alphas[row] in done:
            out[row].copy_(out[done[alphas[row]]])
            continue
        work = augmented[0 if shared else row]
        work[:, _BLOCK] = carries[row]
        if full:
            torch.mm(work[:full], matrices[row], out=out[row, : full * _BLOCK].view(full, _BLOCK))
        if full < blocks:
            tail = torch.mm(work[full:], matrices[row])
            out[row, full * _BLOCK :] = tail[0, : length - full * _BLOCK]
        done[alphas[row]] = row
    _seed(out, clean, window, start, first, decay)
    return out, first


def _fill(work: Tensor, series: Tensor, start: int) -> None:
    """Write one series into a ``[blocks, K + 1]`` block buffer: zeros before ``start`` and as padding."""
    length = series.shape[-1]
    full = length // _BLOCK
    cut = min(max(start, 0), length)
    if full:
        work[:full, :_BLOCK] = series[: full * _BLOCK].view(full, _BLOCK)
    if full < work.shape[0]:
        work[full, :_BLOCK] = 0.0
        work[full, : length - full * _BLOCK] = series[full * _BLOCK :]
    work[: cut // _BLOCK, :_BLOCK] = 0.0
    if cut // _BLOCK < work.shape[0]:
        work[cut // _BLOCK, : cut % _BLOCK] = 0.0


def _seed(out: Tensor, clean: Tensor, window: Tensor, start: Tensor, first: Tensor, decay: Tensor) -> None:
    """In place: replace the scan's value at each row's seed bar by TA-Lib's SMA seed, NaN before it."""
    length = out.shape[-1]
    shared = clean.shape[0] == 1
    rows = zip(window.tolist(), start.tolist(), first.tolist(), decay.tolist(), strict=True)
    for row, (n, s, f, d) in enumerate(rows):
        if f >= length:
            out[row] = math.nan
            continue
        series = clean[0 if shared else row]
        seed = series[s : f + 1].sum(dtype=torch.float64) / n
        delta = seed - out[row, f].to(torch.float64)
        reach = _fade_length(d, length - f)
        steps = torch.arange(reach, dtype=torch.float64, device=out.device)
        out[row, f : f + reach] += (delta * d**steps).to(out.dtype)
        out[row, :f] = math.nan
