"""Position logic shared by strategies: vectorised along time, batched over leading dimensions.

Every function here looks backwards only: element ``t`` of a result depends on elements ``0..t`` of
its inputs, so a strategy built from these and from the indicator kernels passes the lookahead check.
NaN inputs (indicator warm-up) never trigger an event.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


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


def crossover_state(fast: Tensor, slow: Tensor) -> Tensor:
    """1 after ``fast`` crosses above ``slow``, 0 after it crosses below, held in between.

    "Cross above" on bar t: ``fast <= slow`` on bar t-1 and ``fast > slow`` on bar t; "cross below" is
    the mirror (``>=`` then ``<``). Before the first cross above the result is 0, and a bar whose
    previous value is NaN (warm-up) is never a cross. Result dtype follows ``fast``.
    """
    dtype = fast.dtype if fast.is_floating_point() else torch.float64
    return events_to_state(cross_above(fast, slow), cross_below(fast, slow), dtype=dtype)


def shift(x: Tensor, periods: int = 1, fill: float = float("nan")) -> Tensor:
    """``x`` delayed by ``periods`` bars along the last dimension (``out[t] = x[t - periods]``)."""
    if periods < 0:
        raise ValueError("shift by a negative number of bars would look into the future")
    out = torch.full_like(x, fill)
    if periods < x.shape[-1]:
        out[..., periods:] = x[..., : x.shape[-1] - periods]
    return out


def by_unique(periods: Tensor, kernel: Callable[[Tensor], Tensor]) -> Tensor:
    """Run ``kernel`` once per distinct parameter value and spread the rows back over the batch.

    A grid of 100 fast × 100 slow periods holds only 100 distinct fast periods; computing those once
    instead of 10 000 times is what keeps sweeps cheap. ``kernel`` maps a 1-D tensor of values to a
    [values, time] tensor.
    """
    distinct, inverse = torch.unique(periods, return_inverse=True)
    return kernel(distinct)[inverse]


def _broadcast(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    left, right = torch.broadcast_tensors(a, b)  # type: ignore[no-untyped-call]
    return left, right
