"""Shared machinery of the batched kernels: input shaping, validation, windows and linear scans.

Conventions (every public kernel follows them):

* price inputs are float tensors of shape ``[T]`` or ``[B, T]`` (float32 or float64, any device);
* period-like parameters are a Python ``int`` or a 1-D int64 tensor ``[B]`` (one value per combo);
* the result is ``[T]`` when every input is unbatched (1-D prices, ``int`` parameters), otherwise
  ``[B, T]`` (inputs broadcast over B; a ``[T]`` series is shared by every combo);
* warm-up positions hold NaN exactly where TA-Lib's output is NaN (its lookback), and a period longer
  than the series gives an all-NaN result like TA-Lib does, so a prefix of a series never raises.

Internally every helper works on ``[B, T]`` tensors plus a per-row ``start`` (int64 ``[B]``): the
first index holding a valid value, so compositions (DEMA over EMA, STOCH over %K …) know their own
warm-up without relying on NaN propagation (a NaN inside a cumulative sum would poison the tail).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from torchtrader.errors import ConfigError
from torchtrader.indicators.kernels import _backend, _hostcache

Period = int | Tensor

_FLOATS = (torch.float32, torch.float64)


class Batch:
    """Inputs broadcast to ``[B, T]``: the prepared series, batch size and whether to squeeze back."""

    def __init__(self, series: list[Tensor], size: int, batched: bool) -> None:
        self.series = series
        self.size = size
        self.batched = batched

    @property
    def length(self) -> int:
        return int(self.series[0].shape[-1])

    @property
    def device(self) -> torch.device:
        return self.series[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.series[0].dtype

    def out(self, value: Tensor) -> Tensor:
        """Squeeze a ``[1, T]`` result back to ``[T]`` when nothing was batched."""
        return value if self.batched else value[0]


def prepare(name: str, series: Sequence[Tensor], params: Sequence[Period]) -> Batch:
    """Check dtypes/shapes and broadcast the price inputs to a common ``[B', T]`` (B' = 1 or B)."""
    sizes: set[int] = set()
    batched = False
    first = series[0]
    if not isinstance(first, Tensor):
        raise ConfigError(f"{name}: prices must be torch tensors, got {type(first).__name__}")
    for s in series:
        if not isinstance(s, Tensor) or s.dtype not in _FLOATS:
            raise ConfigError(f"{name}: prices must be float32/float64 tensors, got {getattr(s, 'dtype', s)}")
        if s.dim() not in (1, 2):
            raise ConfigError(f"{name}: prices must have shape [T] or [B, T], got {list(s.shape)}")
        if s.shape[-1] != first.shape[-1] or s.device != first.device or s.dtype != first.dtype:
            raise ConfigError(f"{name}: price inputs differ in length, device or dtype")
        if s.dim() == 2:
            batched = True
            sizes.add(int(s.shape[0]))
    for p in params:
        if isinstance(p, Tensor):
            if p.dim() > 1:
                raise ConfigError(f"{name}: parameter tensors must be 1-D [B], got {list(p.shape)}")
            if p.dim() == 1:
                batched = True
                sizes.add(int(p.shape[0]))
    sizes.discard(1)
    if len(sizes) > 1:
        raise ConfigError(f"{name}: batch sizes of inputs and parameters disagree: {sorted(sizes)}")
    size = sizes.pop() if sizes else 1
    rows = [s if s.dim() == 2 else s.unsqueeze(0) for s in series]
    if any(r.shape[0] != rows[0].shape[0] for r in rows):
        rows = [r.expand(size, -1) for r in rows]
    return Batch(rows, size, batched)


def period(name: str, param: str, value: Period, batch: Batch, minimum: int = 1) -> Tensor:
    """A validated int64 ``[B]`` tensor of one period-like parameter on the batch's device."""
    if isinstance(value, bool) or not isinstance(value, int | Tensor):
        raise ConfigError(f"{name}: {param} must be an int or an int64 tensor, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point or value.dtype == torch.bool:
            raise ConfigError(f"{name}: {param} must hold integers, got {value.dtype}")
        tensor = value.to(device=batch.device, dtype=torch.int64).reshape(-1)
    else:
        tensor = torch.tensor([value], dtype=torch.int64, device=batch.device)
    if tensor.numel() == 0:
        raise ConfigError(f"{name}: {param} is empty")
    low = int(tensor.min())
    if low < minimum:
        raise ConfigError(f"{name}: {param} must be >= {minimum}, got {low}")
    return tensor.expand(batch.size) if tensor.numel() == 1 else tensor


def scalar(name: str, param: str, value: float | Tensor, batch: Batch) -> Tensor:
    """A float parameter (e.g. a band width) as a ``[B, 1]`` tensor of the batch's dtype."""
    tensor = torch.as_tensor(value, dtype=batch.dtype, device=batch.device).reshape(-1)
    if not bool(torch.isfinite(tensor).all()):
        raise ConfigError(f"{name}: {param} must be finite")
    return tensor.expand(batch.size).unsqueeze(1) if tensor.numel() == 1 else tensor.unsqueeze(1)


_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}

# from this size on, CPU buffers come from numpy: it asks the kernel for transparent huge pages
# (madvise), torch's allocator does not, and first-touch page faults of 4 KiB pages cost more than
# the kernels' arithmetic at [100, 1M] (an 800 MB float64 buffer: 0.5 s vs 0.17 s to allocate+fill)
_HUGE_BUFFER = 1 << 22


def empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """An uninitialised buffer; large CPU buffers are backed by huge pages where the OS allows and
    recycled from earlier results that have been freed (see ``_hostcache``)."""
    size = math.prod(shape) * (8 if dtype == torch.float64 else 4)
    if device.type == "cpu" and dtype in _NUMPY and size >= _HUGE_BUFFER:
        return torch.from_numpy(_hostcache.CACHE.take(shape, np.dtype(_NUMPY[dtype])))
    return torch.empty(shape, dtype=dtype, device=device)


def positions(length: int, device: torch.device) -> Tensor:
    """Time index ``[1, T]`` (int64) for masks."""
    return torch.arange(length, device=device).unsqueeze(0)


def mask_before(value: Tensor, first: Tensor) -> Tensor:
    """NaN where ``t < first`` (per row), i.e. TA-Lib's warm-up."""
    t = positions(value.shape[-1], value.device)
    return torch.where(t < first.unsqueeze(1), torch.full_like(value, math.nan), value)


def nan_head_(value: Tensor, first: Tensor) -> Tensor:
    """In place: NaN where ``t < first`` (per row), on a tensor this kernel just computed."""
    length = value.shape[-1]
    for row, f in enumerate(first.tolist()):
        value[row, : min(max(f, 0), length)] = math.nan
    return value


def zero_before(value: Tensor, first: Tensor) -> Tensor:
    """Zero where ``t < first`` so invalid (NaN) warm-up values never enter sums.

    A shared ``[1, T]`` series with the same ``first`` for every row stays ``[1, T]``: broadcasting
    it to ``[B, T]`` here would multiply the memory traffic of everything downstream by B.
    """
    if value.shape[0] == 1 and bool((first == first[0]).all()):
        cut = min(max(int(first[0]), 0), value.shape[-1])
        out = value.clone()
        out[:, :cut] = 0.0
        return out
    t = positions(value.shape[-1], value.device)
    return torch.where(t < first.unsqueeze(1), torch.zeros_like(value), value)


def expand_rows(x: Tensor, size: int) -> Tensor:
    return x if x.shape[0] == size else x.expand(size, -1)


def shift(x: Tensor, lag: Tensor, fill: float = 0.0) -> Tensor:
    """``y[b, t] = x[b, t - lag[b]]`` (``fill`` where ``t < lag``); rows of x may be 1 (shared)."""
    size, length = int(lag.shape[0]), x.shape[-1]
    out = empty((size, length), x.dtype, x.device)
    shared = x.shape[0] == 1
    # plain slice copies per row: an index tensor (B*T int64s) or index_put costs far more
    for row, value in enumerate(lag.tolist()):
        value = min(max(int(value), 0), length)
        out[row, :value] = fill
        out[row, value:] = x[0 if shared else row, : length - value]
    return out


def rolling_sum(x: Tensor, window: Tensor, size: int) -> Tensor:
    """Sum of the last ``window[b]`` values at every t (partial sums before the first full window).

    A running sum like TA-Lib's (add the newest value, drop the oldest) written as a cumulative sum
    of ``x[t] - x[t - w]``: partial sums stay near the window's own magnitude, so variances taken as
    E[x^2] - E[x]^2 keep TA-Lib-level accuracy on long, trending series. Float32 inputs accumulate in
    float64.
    """
    acc = x.to(torch.float64)
    increments = expand_rows(acc, size) - shift(acc, window)
    return torch.cumsum(increments, dim=-1).to(x.dtype)


def linear_scan(u: Tensor, decay: Tensor, *, overwrite: bool = False) -> Tensor:
    """``y[t] = decay * y[t-1] + u[t]`` along the last axis with ``y[-1] = 0``.

    ``decay`` is ``[B, 1]`` (per row, constant in time) or ``[B, T]``, values in (0, 1]. Blocked
    closed form instead of a Python loop over T: inside a block of L steps the recursion is
    ``y = P * cumsum(u / P)`` with ``P`` the running product of decays, and block ends form the same
    recursion on T/L points, solved recursively. L is chosen so that ``P`` never underflows. With
    ``overwrite`` the caller hands over ``u`` and it is reused as the work buffer when possible.
    """
    size, length = u.shape
    if length <= 1:
        return u if overwrite else u.clone()
    floor = 1e-30 if u.dtype == torch.float64 else 1e-12
    smallest = float(decay.min())
    if smallest <= 0.0:
        raise ValueError("linear_scan needs decays in (0, 1]")
    limit = 64 if smallest >= 1.0 else max(2, min(64, int(math.log(floor) / math.log(smallest))))
    # a power of two, so a buffer padded to a multiple of 64 (see seeded_smoothing) needs no copy
    block = 1 << (limit.bit_length() - 1)
    blocks = -(-length // block)
    pad = blocks * block - length
    if pad == 0 and overwrite and u.is_contiguous():
        work = u.view(size, blocks, block)
    else:
        work = torch.nn.functional.pad(u, (0, pad)).reshape(size, blocks, block)
    if decay.shape[-1] == 1:
        steps = torch.arange(1, block + 1, device=u.device, dtype=u.dtype)
        prod = (decay.reshape(size, 1, 1).to(u.dtype) ** steps).expand(size, blocks, block)
    else:
        dd = torch.nn.functional.pad(decay, (0, pad), value=1.0).reshape(size, blocks, block)
        prod = torch.cumprod(dd, dim=-1)
    # in place: divide, prefix-sum, multiply back (each a single pass over the buffer)
    work.div_(prod).cumsum_(dim=-1).mul_(prod)
    if blocks > 1:
        ends = work[:, :, -1].clone()
        carry_decay = prod[:, :, -1]
        if float(carry_decay.max()) < 1e-20:
            carry = ends  # older blocks contribute less than float64 resolution
        else:
            # few points: solve in float64 so float32 inputs cannot underflow the products;
            # decays below 1e-20 carry less than float64 resolution, so clamping them is exact enough
            carry = linear_scan(ends.double(), carry_decay.double().clamp_min(1e-20)).to(u.dtype)
        previous = torch.nn.functional.pad(carry[:, :-1], (1, 0)).unsqueeze(-1)
        work.addcmul_(prod, previous)
    return work.reshape(size, blocks * block)[:, :length]


def _finite(x: Tensor, start: Tensor) -> Tensor:
    """``x`` with the warm-up before each row's ``start`` zeroed, only when it holds NaN.

    Values before ``start`` never reach a result (every window and seed starts at or after it),
    they only must not poison the prefix sums; NaN after ``start`` (bad input) still propagates.
    """
    return zero_before(x, start) if bool(torch.isnan(x).any()) else x


def _prefix(x: Tensor) -> Tensor:
    """Float64 prefix sums with a leading 0: ``p[:, t] = sum(x[:, :t])``."""
    return torch.nn.functional.pad(torch.cumsum(x.to(torch.float64), dim=-1), (1, 0))


def window_mean(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """Mean of the last ``window[b]`` values from the first full window on; NaN before.

    Values before ``start`` (per row) are never read. Differences of a float64 prefix sum, written
    row by row into the result: two passes per row and no [B, T] temporaries.
    """
    size, length = int(window.shape[0]), x.shape[-1]
    out = empty((size, length), x.dtype, x.device)
    first = start + window - 1
    if _backend.compiled(x):
        _backend.run("sma", x, window, start, out)
        return out, first
    clean = _finite(x, start)
    prefix = _prefix(clean)
    shared = prefix.shape[0] == 1
    for row, (n, f) in enumerate(zip(window.tolist(), first.tolist(), strict=True)):
        out[row, : min(f, length)] = math.nan
        if f >= length:
            continue
        p = prefix[0 if shared else row]
        target = out[row, f:]
        if x.dtype == torch.float64:
            torch.sub(p[f + 1 :], p[f + 1 - n : length + 1 - n], out=target)
            target.div_(n)
        else:
            target.copy_((p[f + 1 :] - p[f + 1 - n : length + 1 - n]) / n)
    return out, first


def rolling_extreme(x: Tensor, window: Tensor, size: int, largest: bool) -> Tensor:
    """Max (or min) of the last ``window[b]`` values at every t: sparse-table doubling, O(T log W).

    Level k holds the extreme of the 2**k values ending at t; a window of w values is the extreme of
    two overlapping level-k windows with k = floor(log2 w). Rows sharing one k are answered together.
    """
    pick = torch.maximum if largest else torch.minimum
    length = x.shape[-1]
    levels = torch.floor(torch.log2(window.to(torch.float64))).to(torch.int64)
    out = empty((size, length), x.dtype, x.device)
    fill = -math.inf if largest else math.inf
    level = x
    top = int(levels.max())
    for k in range(top + 1):
        span = 1 << k
        # one pass per row, written straight into the result: the extreme of the level-k value
        # ending at t and the one ending at t - w + 2**k (the window's oldest 2**k values)
        for row in (levels == k).nonzero().squeeze(1).tolist():
            source = level[0 if level.shape[0] == 1 else row]
            lag = min(int(window[row]) - span, length)
            out[row, :lag] = fill
            pick(source[lag:], source[: length - lag], out=out[row, lag:])
        if k < top:
            step = 1 << k
            if step < length:
                tail = pick(level[:, step:], level[:, :-step])
                level = torch.cat([level[:, :step], tail], dim=-1)
    return out
