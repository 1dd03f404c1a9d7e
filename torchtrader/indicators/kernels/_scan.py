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

from torchtrader.indicators.kernels import _backend
from torchtrader.indicators.kernels._core import empty, linear_scan, zero_before

# block length: long enough that the per-row GEMM runs at BLAS speed, short enough that its
# K flops per output stay below the cost of the memory traffic
_BLOCK = 32


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


class Smoother:
    """The blocked scan of one ``[1, T]`` or ``[B, T]`` input, prepared for all rows, run row by row.

    ``scan(row, dest)`` writes the unseeded ``z`` of a row into a ``[T]`` buffer, ``seed(row, dest)``
    turns a ``z`` into TA-Lib's seeded smoothing in place. Row by row, callers combine results while
    they are hot in cache and reuse one scratch row instead of allocating [B, T] temporaries.
    """

    def __init__(self, values: Tensor, window: Tensor, start: Tensor, alpha: Tensor) -> None:
        length = values.shape[-1]
        dtype, device = values.dtype, values.device
        self.length, self.window, self.start = length, window.tolist(), start.tolist()
        self.first = (start + window - 1).tolist()
        self.shared = values.shape[0] == 1
        if self.shared and len(set(self.start)) > 1 and bool(torch.isnan(values).any()):
            # warm-up NaN of a shared series ends at different bars per row: zero it row by row
            values, self.shared = values.expand(len(self.start), -1), False
        self.decay = (1.0 - alpha.to(torch.float64)).tolist()
        self.matrices = _matrices(alpha, dtype).to(device)
        blocks = -(-length // _BLOCK)
        self.values, self.block_decay = values, (self.matrices[:, _BLOCK, _BLOCK - 1 :]).to(torch.float64)
        if self.shared:
            clean = zero_before(values, start) if bool(torch.isnan(values).any()) else values
            # the block inputs with the carry column: [blocks, K + 1], shared by every row
            self.augmented = torch.zeros((blocks, _BLOCK + 1), dtype=dtype, device=device)
            _fill(self.augmented, clean[0], 0)
            last = self.matrices[:, :_BLOCK, _BLOCK - 1]  # [B, K]: weight of each input in the block end
            ends = torch.mm(self.augmented[:, :_BLOCK], last.T).T
            self.carries = _carries(ends, self.block_decay)
        else:
            # per-row inputs: one reused block buffer, filled and scanned row by row in scan()
            # (values before the row's start zeroed: warm-up NaN of a chained kernel)
            clean = values
            self.augmented = torch.empty((blocks, _BLOCK + 1), dtype=dtype, device=device)
        self.clean = clean

    def scan(self, row: int, dest: Tensor) -> None:
        """``dest[t] = z[t]``: the recursion from bar 0 with a zero start, one GEMM."""
        length = self.length
        work = self.augmented
        blocks, full = work.shape[0], length // _BLOCK
        if self.shared:
            carries = self.carries[row]
        else:
            _fill(work, self.values[row], self.start[row])
            ends = torch.mv(work[:, :_BLOCK], self.matrices[row, :_BLOCK, _BLOCK - 1]).unsqueeze(0)
            carries = _carries(ends, self.block_decay[row : row + 1])[0]
        work[:, _BLOCK] = carries
        if full:
            torch.mm(work[:full], self.matrices[row], out=dest[: full * _BLOCK].view(full, _BLOCK))
        if full < blocks:
            tail = torch.mm(work[full:], self.matrices[row])
            dest[full * _BLOCK :] = tail[0, : length - full * _BLOCK]

    def seed(self, row: int, dest: Tensor) -> None:
        """In place on a row's ``z``: TA-Lib's SMA seed at the row's first bar, NaN before it."""
        n, s, f, d = self.window[row], self.start[row], self.first[row], self.decay[row]
        if f >= self.length:
            dest.fill_(math.nan)
            return
        series = self.clean[0 if self.shared else row]
        seed = series[s : f + 1].sum(dtype=torch.float64) / n
        delta = seed - dest[f].to(torch.float64)
        reach = _fade_length(d, self.length - f)
        steps = torch.arange(reach, dtype=torch.float64, device=dest.device)
        dest[f : f + reach] += (delta * d**steps).to(dest.dtype)
        dest[:f] = math.nan


def seeded_smoothing(
    values: Tensor, window: Tensor, start: Tensor, alpha: Tensor, percent_of: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """TA-Lib's seeded exponential smoothing, the recursion behind EMA, ATR, RSI and MACD.

    ``y[f] = mean(values[start .. f])`` with ``f = start + window - 1``, then
    ``y[t] = y[t-1] + alpha * (values[t] - y[t-1])``; NaN before ``f``. ``alpha`` is ``[B]``
    (2/(n+1) for an EMA, 1/n for Wilder's smoothing), values ``[1, T]`` (shared) or ``[B, T]``.
    ``percent_of`` (a ``[T]`` series, compiled path only: NATR) writes ``100 * y / percent_of``.
    """
    size, length = int(window.shape[0]), values.shape[-1]
    first = start + window - 1
    out = empty((size, length), values.dtype, values.device)
    if length == 0:
        return out, first
    if _backend.compiled(values):
        base = values.new_empty(0) if percent_of is None else percent_of.reshape(-1)
        _backend.run("smooth", values, window, start, alpha.to(torch.float64), out, base)
        return out, first
    if percent_of is not None:
        raise ValueError("percent_of is a compiled-path option (NATR); the torch path divides itself")
    smoother = Smoother(values, window, start, alpha)
    for row in range(size):
        smoother.scan(row, out[row])
        smoother.seed(row, out[row])
    return out, first


def _carries(ends: Tensor, block_decay: Tensor) -> Tensor:
    """The carry into each block: the recursion over block ends (float64), shifted by one block."""
    carries = linear_scan(ends.to(torch.float64), block_decay.clamp_min(1e-20)).to(ends.dtype)
    return torch.nn.functional.pad(carries[:, :-1], (1, 0))


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
