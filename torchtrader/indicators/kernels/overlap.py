"""Moving averages and bands (TA-Lib "overlap studies"): SMA, EMA, WMA, DEMA, TEMA, BBANDS.

Shapes and warm-up follow the package conventions (see ``_core``). The ``_``-prefixed helpers take
``[B, T]`` values valid from a per-row ``start`` and return the result plus its own first valid
index, so the indicators that chain averages share one implementation of each.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchtrader.indicators.kernels import _backend
from torchtrader.indicators.kernels import _segments as segments
from torchtrader.indicators.kernels._core import (
    Period,
    empty,
    mask_before,
    period,
    prepare,
    scalar,
    window_mean,
)
from torchtrader.indicators.kernels._scan import seeded_smoothing


def _sma(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    return window_mean(x, window, start)


def _ema(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """TA-Lib's EMA: seeded with the SMA of the first ``window`` valid values, then k = 2/(n+1)."""
    return seeded_smoothing(x, window, start, 2.0 / (window.to(torch.float64) + 1.0))


def _wma(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """Linear weights n..1 (newest heaviest) over n(n+1)/2, as TA-Lib.

    With prefix sums P1 (values) and P2 (values times local time) the weighted window sum is
    ``N[t] = G[t+1] - G[t+1-n] + n * P1[t+1]`` where ``G[q] = P2[q] - (q - 1) * P1[q]``: three
    slices of shared segment tables per window (see ``_segments``), no pass per weight.
    """
    size, length = int(window.shape[0]), x.shape[-1]
    first = start + window - 1
    out = empty((size, length), x.dtype, x.device)
    if length == 0:
        return out, first
    if _backend.compiled(x):
        _backend.run("wma", x, window, start, out)
        return out, first
    lookback = int(window.max())
    tables = segments.build(x, start, lookback, weighted=True, squares=False)
    for row, (n, f) in enumerate(zip(window.tolist(), first.tolist(), strict=True)):
        table = tables[0 if len(tables) == 1 else row]
        weighted, sums = table.weighted, table.sums
        assert weighted is not None
        # the centre c shifts every value of the window by c and the weighted mean by exactly c
        scale = 1.0 / (n * (n + 1) / 2.0)

        def compute(part: slice, dests: list[Tensor]) -> None:
            dest = dests[0]
            # three passes over the row: G[t+1] - G[t+1-n], + n * P1[t+1], then c + N / den
            work = dest if dest.dtype == torch.float64 else torch.empty_like(dest, dtype=torch.float64)
            top = segments.at(weighted, lookback, 0)[part]  # noqa: B023
            torch.sub(top, segments.at(weighted, lookback, n)[part], out=work)  # noqa: B023
            work.add_(segments.at(sums, lookback, 0)[part], alpha=n)  # noqa: B023
            torch.add(table.centre[part], work, alpha=scale, out=dest)  # noqa: B023

        segments.apply([out[row]], table.count, compute)
        out[row, : min(f, length)] = math.nan
    return out, first


def _cascade(x: Tensor, window: Tensor, depth: int) -> Tensor:
    """DEMA (depth 2) or TEMA (3) on the compiled path: the EMA chain in one pass per row."""
    out = empty((int(window.shape[0]), x.shape[-1]), x.dtype, x.device)
    _backend.run("cascade", x, window, depth, out)
    return out


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
    if _backend.compiled(b.series[0]):
        return b.out(_cascade(b.series[0], n, 2))
    e1, f1 = _ema(b.series[0], n, torch.zeros_like(n))
    e2, f2 = _ema(e1, n, f1)
    return b.out(mask_before(2.0 * e1 - e2, f2))


def tema(close: Tensor, timeperiod: Period = 30) -> Tensor:
    """Triple EMA ``3*E1 - 3*E2 + E3`` (TA-Lib TEMA); NaN for ``3*(timeperiod-1)`` bars."""
    b = prepare("tema", [close], [timeperiod])
    n = period("tema", "timeperiod", timeperiod, b)
    if _backend.compiled(b.series[0]):
        return b.out(_cascade(b.series[0], n, 3))
    e1, f1 = _ema(b.series[0], n, torch.zeros_like(n))
    e2, f2 = _ema(e1, n, f1)
    e3, f3 = _ema(e2, n, f2)
    return b.out(mask_before(3.0 * e1 - 3.0 * e2 + e3, f3))


_BAND_SEGMENT = 128


def _bands(x: Tensor, window: Tensor, up: list[float], down: list[float]) -> tuple[Tensor, Tensor, Tensor]:
    """SMA and population deviation bands, row by row from shared segment tables.

    TA-Lib takes ``sqrt(E[x^2] - mean^2)`` from running sums; on values centred per segment the
    same formula is exact to ~1e-13 (no cancellation against the price level). TA-Lib's guard is
    kept (a variance below 1e-14 is a zero deviation), and a window whose values are all equal is
    detected exactly (no changes between neighbours) and gets 0 where TA-Lib returns round-off noise.
    """
    size, length = int(window.shape[0]), x.shape[-1]
    outs = [empty((size, length), x.dtype, x.device) for _ in range(3)]
    if length == 0:
        return outs[0], outs[1], outs[2]
    if _backend.compiled(x):
        widths = [torch.tensor(w, dtype=torch.float64) for w in (up, down)]
        _backend.run("bbands", x, window, *widths, *outs)
        return outs[0], outs[1], outs[2]
    # tables per size class (lookback = next power of two >= n): the round-off of a prefix
    # difference grows with the table's span, and short, quiet windows need the smallest span
    classes = [max(8, 1 << (n - 1).bit_length()) for n in window.tolist()]
    tables = {
        c: segments.build(x, torch.zeros_like(window), c, weighted=False, squares=True, segment=_BAND_SEGMENT)
        for c in set(classes)
    }
    # float64 round-off of E[x^2] - mean^2 over a table span is below 1e-12 * max(x)^2
    levels = (x.to(torch.float64).abs().nan_to_num(0.0).amax(dim=1) ** 2 * 1e-10).tolist()
    for row, n in enumerate(window.tolist()):
        lookback = classes[row]
        noise = levels[0 if x.shape[0] == 1 else row]
        table = tables[lookback][0 if x.shape[0] == 1 else row]
        sums, squares, moves = table.sums, table.squares, table.moves
        assert squares is not None and moves is not None

        def compute(part: slice, dests: list[Tensor]) -> None:
            upper, middle, lower = dests
            wide = middle.dtype == torch.float64
            mean = middle if wide else torch.empty_like(middle, dtype=torch.float64)

            def at(table: Tensor, lag: int) -> Tensor:
                return segments.at(table, lookback, lag, _BAND_SEGMENT)  # noqa: B023

            torch.sub(at(sums, 0)[part], at(sums, n)[part], out=mean)  # noqa: B023
            mean.div_(n)  # noqa: B023
            variance = torch.sub(at(squares, 0)[part], at(squares, n)[part])  # noqa: B023
            variance.div_(n).addcmul_(mean, mean, value=-1.0)  # noqa: B023
            variance.masked_fill_(variance < 1e-14, 0.0)
            # a constant window leaves round-off far below this; only such candidates are checked
            # for changes between neighbours (an exact count), not every window
            candidates = (variance < noise).nonzero()  # noqa: B023
            if candidates.numel():
                i, j = candidates[:, 0], candidates[:, 1]
                changes = at(moves, 0)[part][i, j] - at(moves, n - 1)[part][i, j]  # noqa: B023
                variance[i[changes == 0], j[changes == 0]] = 0.0
            deviation = variance.sqrt_()
            mean.add_(table.centre[part])  # noqa: B023
            if not wide:
                middle.copy_(mean)
            torch.add(mean, deviation, alpha=up[row], out=upper)  # noqa: B023
            torch.add(mean, deviation, alpha=-down[row], out=lower)  # noqa: B023

        segments.apply([o[row] for o in outs], table.count, compute, _BAND_SEGMENT)
        for o in outs:
            o[row, : min(n - 1, length)] = math.nan
    return outs[0], outs[1], outs[2]


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
    if up.shape[0] != b.size:
        up = up.expand(b.size, 1)
    if dn.shape[0] != b.size:
        dn = dn.expand(b.size, 1)
    upper, middle, lower = _bands(b.series[0], n, up[:, 0].tolist(), dn[:, 0].tolist())
    return b.out(upper), b.out(middle), b.out(lower)
