"""Position logic shared by strategies: vectorised along time, batched over leading dimensions.

Every function here looks backwards only: element ``t`` of a result depends on elements ``0..t`` of
its inputs, so a strategy built from these and from the indicator kernels passes the lookahead check.
NaN inputs (indicator warm-up) never trigger an event.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from torchtrader.strategies.base import Bars


def hold_last(signal: Tensor, fill: float = 0.0) -> Tensor:
    """Forward-fill along the last dimension: NaN means "no new signal", so the last value is held.

    Elements before the first non-NaN value become ``fill``. One ``cummax`` over indices, no Python loop.
    """
    if signal.shape[-1] == 0:
        return signal.clone()
    valid = ~torch.isnan(signal)
    steps = torch.arange(signal.shape[-1], device=signal.device).expand_as(signal)
    # Index of the latest valid element at or before t (-1 while none yet).
    latest = torch.where(valid, steps, torch.full_like(steps, -1)).cummax(dim=-1).values
    held = torch.gather(signal, -1, latest.clamp(min=0))
    return torch.where(latest >= 0, held, torch.full_like(held, fill))


def last_true(mask: Tensor) -> Tensor:
    """1-based index of the latest True at or before each bar along the last dimension; 0 while none.

    int32 and one ``cummax``: comparing two of these tells which of two events happened last.
    """
    steps = torch.arange(1, mask.shape[-1] + 1, dtype=torch.int32, device=mask.device)
    return torch.where(mask, steps, 0).cummax(dim=-1).values


def events_to_state(
    enter: Tensor, exit: Tensor, *, value: float = 1.0, dtype: torch.dtype = torch.float64
) -> Tensor:
    """``value`` from a bar where ``enter`` is true until a bar where ``exit`` is true, then 0.

    Bars with neither event keep the previous state; before the first event the state is 0. When both
    are true on one bar, ``exit`` wins (the conservative choice).
    """
    enter, exit = _broadcast(enter, exit)
    state = (last_true(enter) > last_true(exit)).to(dtype)
    return state if value == 1.0 else state * value


def cross_above(a: Tensor, b: Tensor) -> Tensor:
    """True on bar t when ``a[t-1] <= b[t-1]`` and ``a[t] > b[t]`` (never on the first bar, never on NaN)."""
    a, b = _broadcast(a, b)
    out = torch.zeros(a.shape, dtype=torch.bool, device=a.device)
    out[..., 1:] = (a[..., :-1] <= b[..., :-1]) & (a[..., 1:] > b[..., 1:])
    return out


def cross_below(a: Tensor, b: Tensor) -> Tensor:
    """True on bar t when ``a[t-1] >= b[t-1]`` and ``a[t] < b[t]`` (the mirror of ``cross_above``)."""
    a, b = _broadcast(a, b)
    out = torch.zeros(a.shape, dtype=torch.bool, device=a.device)
    out[..., 1:] = (a[..., :-1] >= b[..., :-1]) & (a[..., 1:] < b[..., 1:])
    return out


def crossover_state(fast: Tensor | UniqueRows, slow: Tensor | UniqueRows) -> Tensor:
    """1 after ``fast`` crosses above ``slow``, 0 after it crosses below, held in between.

    "Cross above" on bar t: ``fast <= slow`` on bar t-1 and ``fast > slow`` on bar t; "cross below" is
    the mirror (``>=`` then ``<``). Before the first cross above the result is 0, and a bar whose
    previous value is NaN (warm-up) is never a cross. Result dtype follows ``fast``.

    Same result as ``events_to_state(cross_above(fast, slow), cross_below(fast, slow))``, computed with
    less memory traffic: rows are processed in blocks of about ``_BLOCK_ELEMENTS`` (small boolean
    temporaries the allocator reuses), only the sparse state *changes* are written, and an in-place
    ``cumsum`` per block turns them into the state. Either input may be a ``UniqueRows`` (from
    ``unique_rows``): its rows are then read in place, never expanded to [combos, time].
    """
    shape = torch.broadcast_shapes(fast.shape, slow.shape)  # type: ignore[no-untyped-call]
    row_inputs = isinstance(fast, UniqueRows) or isinstance(slow, UniqueRows)
    if len(shape) != 2 and row_inputs:
        fast, slow = _dense(fast), _dense(slow)
    dtype = fast.dtype if fast.dtype.is_floating_point else torch.float64
    device = fast.device
    out = torch.zeros(shape, dtype=dtype, device=device)
    steps = shape[-1] if shape else 0
    if steps < 2 or out.numel() == 0:
        return out
    flat = out.view(-1, steps)
    fast_rows, slow_rows = _row_blocks(fast, shape), _row_blocks(slow, shape)
    # Small blocks pay off on CPU (allocator reuse); a GPU wants the whole chunk in one launch.
    limit = _BLOCK_ELEMENTS if out.device.type == "cpu" else out.numel()
    block = max(1, limit // steps)
    for start in range(0, flat.shape[0], block):
        stop = min(start + block, flat.shape[0])
        part = flat[start:stop]
        _crossover_changes(fast_rows(start, stop), slow_rows(start, stop), part)
        part.cumsum_(dim=-1)  # while the block is still in cache
    return out


@dataclass(frozen=True)
class UniqueRows:
    """A [combos, *row_shape] tensor kept as its distinct rows plus one row number per combo.

    What ``unique_rows`` returns: ``crossover_state`` reads it without building the dense tensor (at
    1 M bars and 16 combos that copy costs as much as the crossover itself); ``dense()`` builds it.
    Rows may be shared with a ``Bars`` memo: treat them as read-only.
    """

    rows: tuple[Tensor, ...]
    index: tuple[int, ...]
    row_shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.index), *self.row_shape))

    def dense(self) -> Tensor:
        """The [combos, *row_shape] tensor (a fresh copy)."""
        if not self.index:
            return torch.empty(self.shape, dtype=self.dtype, device=self.device)
        return torch.stack([self.rows[i] for i in self.index])

    def block(self, start: int, stop: int) -> Tensor:
        """Combos ``start..stop`` as a tensor: a view for one combo, a small copy for several."""
        if stop - start == 1:
            return self.rows[self.index[start]].unsqueeze(0)
        return torch.stack([self.rows[i] for i in self.index[start:stop]])


def _dense(x: Tensor | UniqueRows) -> Tensor:
    return x.dense() if isinstance(x, UniqueRows) else x


def _row_blocks(x: Tensor | UniqueRows, shape: torch.Size) -> Callable[[int, int], Tensor]:
    """Rows ``start..stop`` of ``x`` broadcast to ``shape``, leading dimensions flattened to rows."""
    if isinstance(x, UniqueRows):  # only with a 2-D ``shape`` (see crossover_state)
        if x.shape[0] == shape[0]:
            return x.block
        only = x.block(0, 1).expand(shape)  # one combo broadcast over all rows
        return lambda start, stop: only[start:stop]
    # In 2-D a broadcast input is sliced as views; higher ranks are flattened to rows once (a copy).
    full = x.expand(shape) if len(shape) == 2 else x.expand(shape).reshape(-1, shape[-1])
    return lambda start, stop: full[start:stop]


# ~1 M elements: boolean temporaries of ~1 MB stay in the allocator's free lists instead of being
# mapped and page-faulted afresh for every [chunk, T] tensor (measured: 3x on one CPU thread).
_BLOCK_ELEMENTS = 1 << 20


def _crossover_changes(fast: Tensor, slow: Tensor, out: Tensor) -> None:
    """Write +1 / -1 into ``out`` (zeros, [rows, T]) where the crossover state switches on / off."""
    steps = out.shape[-1]
    # Two full comparisons; the "<= / >= on the previous bar" half is checked on the sparse candidates.
    # Flat (row-major) indices keep the sparse part on 1-D gathers; a candidate at a row's first bar
    # compares with the previous row and is dropped.
    gt, lt = (fast > slow).view(-1), (fast < slow).view(-1)
    bar = ((gt[1:] > gt[:-1]) | (lt[1:] > lt[:-1])).nonzero().squeeze(1) + 1
    bar = bar[bar % steps != 0]
    if bar.numel() == 0:
        return
    entering = gt[bar]  # a rising "fast > slow" (else a rising "fast < slow"): they never coincide
    row, col = bar // steps, bar % steps
    prev_fast, prev_slow = fast[row, col - 1], slow[row, col - 1]
    # A candidate is an event only when the previous bar compared (not NaN): <= before an up, >= before down.
    real = torch.where(entering, prev_fast <= prev_slow, prev_fast >= prev_slow)
    bar, row, entering = bar[real], row[real], entering[real]
    # The state before an event is the previous event's kind in the same row (0 before the first).
    before = torch.zeros_like(entering)
    before[1:] = entering[:-1]
    before[1:] &= row[1:] == row[:-1]
    switch = entering != before
    out.view(-1)[bar[switch]] = entering[switch].to(out.dtype) * 2 - 1


def shift(x: Tensor, periods: int = 1, fill: float = float("nan")) -> Tensor:
    """``x`` delayed by ``periods`` bars along the last dimension (``out[t] = x[t - periods]``)."""
    if periods < 0:
        raise ValueError("shift by a negative number of bars would look into the future")
    out = torch.full_like(x, fill)
    if periods < x.shape[-1]:
        out[..., periods:] = x[..., : x.shape[-1] - periods]
    return out


def by_unique(
    periods: Tensor,
    kernel: Callable[[Tensor], Tensor],
    *,
    memo: Bars | None = None,
    key: Hashable = None,
) -> Tensor:
    """Run ``kernel`` once per distinct parameter value and spread the rows back over the batch.

    A grid of 100 fast × 100 slow periods holds only 100 distinct fast periods; computing those once
    instead of 10 000 times is what keeps sweeps cheap. ``kernel`` maps a 1-D tensor of values to a
    [values, time] tensor.

    With ``memo=bars`` and a ``key`` naming the computation (kernel and input, e.g.
    ``("sma", "close")``), each row is also remembered on ``bars`` (``Bars.memo``), so the next chunk
    of a sweep reuses it instead of recomputing it::

        fast = by_unique(p.fast, lambda n: sma(bars.close, n), memo=bars, key=("sma", "close"))

    The key is the author's promise that ``kernel(v)`` depends only on ``bars``, ``key`` and ``v``;
    never reuse one key for two different computations. The result is always a fresh tensor.
    ``unique_rows`` is the same without the final [combos, time] copy.
    """
    if memo is None or key is None:
        distinct, inverse = torch.unique(periods, return_inverse=True)
        return kernel(distinct)[inverse]
    return unique_rows(periods, kernel, memo=memo, key=key).dense()


def unique_rows(
    periods: Tensor,
    kernel: Callable[[Tensor], Tensor],
    *,
    memo: Bars | None = None,
    key: Hashable = None,
) -> UniqueRows:
    """``by_unique`` without spreading: the distinct rows and one row number per combo.

    Pass the result to ``crossover_state`` (or call ``.dense()``); memo and key as in ``by_unique``.
    """
    distinct, inverse = torch.unique(periods, return_inverse=True)
    values = distinct.tolist()
    use_memo = memo is not None and key is not None
    rows: list[Tensor | None] = [None] * len(values)
    if memo is not None and key is not None:
        rows = [memo.memo_lookup((key, v)) for v in values]
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing or not values:
        fresh = kernel(distinct[missing] if missing else distinct)
        row_shape, dtype, device = tuple(fresh.shape[1:]), fresh.dtype, fresh.device
        for j, i in enumerate(missing):
            # A clone per row lets the memo free rows one by one; a lone row owns its storage already.
            row = fresh[j] if len(missing) == 1 or not use_memo else fresh[j].clone()
            if memo is not None and key is not None:
                memo.memo_store((key, values[i]), row)
            rows[i] = row
    ready = tuple(row for row in rows if row is not None)
    if ready:
        row_shape, dtype, device = tuple(ready[0].shape), ready[0].dtype, ready[0].device
    return UniqueRows(ready, tuple(inverse.tolist()), row_shape, dtype, device)


def _broadcast(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    left, right = torch.broadcast_tensors(a, b)  # type: ignore[no-untyped-call]
    return left, right
