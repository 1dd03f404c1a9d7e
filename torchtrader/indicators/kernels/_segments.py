"""Window sums from segment-local prefix sums: WMA and Bollinger bands without running-sum drift.

A window sum as a difference of global prefix sums loses digits to the prefix's growing magnitude
(at 1M bars of x*t weights, 1e-8 relative). Here time is cut into segments of ``_SEGMENT`` outputs;
each segment gets its own prefix sums over its outputs plus the longest window's lookback, of values
centred on the segment's first output value. Magnitudes stay at (segment length)^2 * local price
moves, so differences keep ~1e-13 relative accuracy, and every window of every row is two or three
slices of the same shared ``[segments, L + 1]`` tables (computed once for all windows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from torchtrader.indicators.kernels._core import zero_before

_SEGMENT = 512


@dataclass(frozen=True)
class Segments:
    """Per series row: centre ``[S, 1]`` and local prefix tables ``[S, L + 1]`` (float64).

    ``sums[q]`` = sum of the centred values before local index q, ``weighted[q]`` = the weighted
    form ``G`` of the WMA identity (see ``weighted_sum``), ``squares[q]`` the prefix of squares and
    ``moves[q]`` the count of changes between neighbours. Local index q = lookback + 1 + i is the
    prefix just after output i of the segment.
    """

    centre: Tensor
    sums: Tensor
    weighted: Tensor | None
    squares: Tensor | None
    moves: Tensor | None
    lookback: int
    length: int
    segment: int

    @property
    def count(self) -> int:
        return int(self.centre.shape[-2])


def build(
    x: Tensor, start: Tensor, lookback: int, *, weighted: bool, squares: bool, segment: int = _SEGMENT
) -> list[Segments]:
    """Tables for each row of ``x`` ([1, T] shared or [B, T]); values before ``start`` count as 0."""
    length = x.shape[-1]
    clean = x.to(torch.float64)
    if bool(torch.isnan(clean).any()):
        clean = zero_before(clean, start if clean.shape[0] > 1 else start[:1])
    count = -(-length // segment)
    span = segment + lookback
    padded = torch.nn.functional.pad(clean, (lookback, count * segment - length))
    tables = []
    for row in range(clean.shape[0]):
        seg = padded[row].unfold(0, span, segment)  # [S, span] view: lookback + the segment's outputs
        centre = seg[:, lookback : lookback + 1].clone()
        local = seg - centre
        sums = torch.nn.functional.pad(local.cumsum(dim=1), (1, 0))
        g = None
        if weighted:
            index = torch.arange(span + 1, dtype=torch.float64, device=x.device)
            p2 = torch.nn.functional.pad((local * index[:span]).cumsum(dim=1), (1, 0))
            g = p2 - (index - 1.0) * sums
        sq = mv = None
        if squares:
            sq = torch.nn.functional.pad((local * local).cumsum(dim=1), (1, 0))
            moved = torch.nn.functional.pad((seg[:, 1:] != seg[:, :-1]).to(torch.float64), (1, 0))
            mv = torch.nn.functional.pad(moved.cumsum(dim=1), (1, 0))
        tables.append(Segments(centre, sums, g, sq, mv, lookback, length, segment))
    return tables


def at(table: Tensor, lookback: int, lag: int, segment: int = _SEGMENT) -> Tensor:
    """``[S, segment]`` view: the prefix ``lag`` bars before the one just after each output."""
    first = lookback + 1 - lag
    return table[:, first : first + segment]


def apply(
    out_rows: list[Tensor],
    count: int,
    compute: Callable[[slice, list[Tensor]], None],
    segment: int = _SEGMENT,
) -> None:
    """Run ``compute(segments, dests)`` on the full segments straight into the output rows (viewed
    as ``[full, segment]``), and on a partial last segment through small scratch rows."""
    length = out_rows[0].shape[-1]
    full = length // segment
    if full:
        compute(slice(0, full), [r[: full * segment].view(full, segment) for r in out_rows])
    if full < count:
        scratch = [torch.empty((1, segment), dtype=r.dtype, device=r.device) for r in out_rows]
        compute(slice(full, full + 1), scratch)
        for r, tail in zip(out_rows, scratch, strict=True):
            r[full * segment :] = tail[0, : length - full * segment]
