"""Compiled CPU loops of TA-Lib's window indicators: SMA, WMA, Bollinger bands, WILLR, MOM/ROC.

Running sums are TA-Lib's own (add the newest value, drop the oldest), four rows at a time so
their add chains overlap in the pipeline (see ``_jit_smoothing`` for the lane scheme). Divisions by
a constant are multiplications by its reciprocal (1 ulp from TA-Lib, off the dependency chain).
"""

from __future__ import annotations

import numba
import numpy as np

from torchtrader.indicators.kernels._jit_smoothing import Array, group, row_of

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")
_NAN = np.nan
# TA-Lib's TA_IS_ZERO_OR_NEG threshold: a smaller variance is a zero deviation
_EPSILON = 1e-14
# running sums restart from an exact sum every this many bars: no drift over long series
_RESYNC = 4096


@_jit
def _sum_head(x: Array, out: Array, n: int, s: int) -> tuple[float, int]:
    """NaN warm-up and the sum of the ``n - 1`` values before the first output ``f = s + n - 1``."""
    length = out.shape[0]
    f = s + n - 1
    if f >= length:
        out[:] = _NAN
        return 0.0, length
    out[:f] = _NAN
    total = 0.0
    for t in range(s, f):
        total += x[t]
    return total, f


@_jit
def _sum_steps(x: Array, out: Array, total: float, n: int, t0: int, t1: int) -> float:
    scale = 1.0 / n
    for t in range(t0, t1):
        total += x[t]
        out[t] = total * scale
        total -= x[t - n + 1]
    return total


@_jit
def sma(values: Array, window: Array, start: Array, out: Array) -> None:
    """Mean of the last ``window`` values from ``start + window - 1`` on (TA-Lib SMA's running sum)."""
    rows, length = out.shape
    for r0 in range(0, rows, 4):
        (a, b, c, d), (xa, xb, xc, xd), (oa, ob, oc, od) = group(values, out, r0)
        na, nb, nc, nd = window[a], window[b], window[c], window[d]
        sa, ta = _sum_head(xa, oa, na, start[a])
        sb, tb = _sum_head(xb, ob, nb, start[b])
        sc, tc = _sum_head(xc, oc, nc, start[c])
        sd, td = _sum_head(xd, od, nd, start[d])
        top = max(max(ta, tb), max(tc, td))
        sa = _sum_steps(xa, oa, sa, na, ta, top)
        sb = _sum_steps(xb, ob, sb, nb, tb, top)
        sc = _sum_steps(xc, oc, sc, nc, tc, top)
        sd = _sum_steps(xd, od, sd, nd, td, top)
        ua, ub, uc, ud = 1.0 / na, 1.0 / nb, 1.0 / nc, 1.0 / nd
        for t in range(top, length):
            sa += xa[t]
            sb += xb[t]
            sc += xc[t]
            sd += xd[t]
            oa[t] = sa * ua
            ob[t] = sb * ub
            oc[t] = sc * uc
            od[t] = sd * ud
            sa -= xa[t - na + 1]
            sb -= xb[t - nb + 1]
            sc -= xc[t - nc + 1]
            sd -= xd[t - nd + 1]


@_jit
def _first(out: Array, n: int, s: int) -> int:
    """NaN warm-up before the first full window ``f = s + n - 1``; returns f (``length`` if none)."""
    length: int = out.shape[0]
    f = s + n - 1
    if f >= length:
        out[:] = _NAN
        return length
    out[:f] = _NAN
    return f


@_jit
def _wma_sums(x: Array, t: int, n: int) -> tuple[float, float]:
    """Weighted (1..n-1, newest heaviest) and plain sums of the ``n - 1`` values before bar t."""
    weighted = 0.0
    plain = 0.0
    for i in range(1, n):
        value = x[t - n + i]
        plain += value
        weighted += value * i
    return weighted, plain


@_jit
def _next_stop(t: int, length: int) -> int:
    """The next restart bar after t (a multiple of ``_RESYNC``), or ``length``."""
    return min((t // _RESYNC + 1) * _RESYNC, length)


@_jit
def _wma_alone(x: Array, out: Array, n: int, t0: int, t1: int) -> tuple[float, float]:
    """One row from its first output ``t0`` up to ``t1``; returns the sums carried into ``t1``."""
    if t0 >= x.shape[0]:
        return 0.0, 0.0  # the row has no output at all (window longer than the series)
    scale = 2.0 / (n * (n + 1.0))
    weighted, plain = _wma_sums(x, t0, n)
    c0 = t0
    while c0 < t1:
        if c0 % _RESYNC == 0:
            weighted, plain = _wma_sums(x, c0, n)
        for t in range(c0, _next_stop(c0, t1)):
            value = x[t]
            plain += value
            weighted += value * n
            out[t] = weighted * scale
            weighted -= plain
            plain -= x[t - n + 1]
        c0 = _next_stop(c0, t1)
    return weighted, plain


@_jit
def wma(values: Array, window: Array, start: Array, out: Array) -> None:
    """Linearly weighted mean (weights n..1, newest heaviest) from running sums, four rows at a time.

    TA-Lib's update (add n * newest, subtract the plain sum, drop the oldest) drifts by 1e-9 over
    a million bars when run unbroken, so the sums restart from exact sums at every multiple of
    ``_RESYNC``: at the same bars for every row, so a row's values never depend on the rows it
    shares a group with, or on the length of the series (prefixes give the same values).
    """
    rows, length = out.shape
    for r0 in range(0, rows, 4):
        (a, b, c, d), (xa, xb, xc, xd), (oa, ob, oc, od) = group(values, out, r0)
        na, nb, nc, nd = window[a], window[b], window[c], window[d]
        ta, tb = _first(oa, na, start[a]), _first(ob, nb, start[b])
        tc, td = _first(oc, nc, start[c]), _first(od, nd, start[d])
        top = max(max(ta, tb), max(tc, td))
        wa, pa = _wma_alone(xa, oa, na, ta, top)
        wb, pb = _wma_alone(xb, ob, nb, tb, top)
        wc, pc = _wma_alone(xc, oc, nc, tc, top)
        wd, pd = _wma_alone(xd, od, nd, td, top)
        ua, ub = 2.0 / (na * (na + 1.0)), 2.0 / (nb * (nb + 1.0))
        uc, ud = 2.0 / (nc * (nc + 1.0)), 2.0 / (nd * (nd + 1.0))
        c0 = top
        while c0 < length:
            if c0 % _RESYNC == 0:
                wa, pa = _wma_sums(xa, c0, na)
                wb, pb = _wma_sums(xb, c0, nb)
                wc, pc = _wma_sums(xc, c0, nc)
                wd, pd = _wma_sums(xd, c0, nd)
            for t in range(c0, _next_stop(c0, length)):
                va, vb, vc, vd = xa[t], xb[t], xc[t], xd[t]
                pa += va
                pb += vb
                pc += vc
                pd += vd
                wa += va * na
                wb += vb * nb
                wc += vc * nc
                wd += vd * nd
                oa[t] = wa * ua
                ob[t] = wb * ub
                oc[t] = wc * uc
                od[t] = wd * ud
                wa -= pa
                wb -= pb
                wc -= pc
                wd -= pd
                pa -= xa[t - na + 1]
                pb -= xb[t - nb + 1]
                pc -= xc[t - nc + 1]
                pd -= xd[t - nd + 1]
            c0 = _next_stop(c0, length)


@_jit
def _band_sums(x: Array, t: int, n: int, centre: float) -> tuple[float, float, int]:
    """Sums of ``x - centre`` and its squares over the ``n - 1`` bars before t, and the number of
    changes between neighbours among them."""
    total = 0.0
    squares = 0.0
    moves = 0
    for i in range(t - n + 1, t):
        value = x[i] - centre
        total += value
        squares += value * value
        if i > t - n + 1 and x[i] != x[i - 1]:
            moves += 1
    return total, squares, moves


@_jit
def bbands(
    values: Array, window: Array, up: Array, down: Array, upper: Array, middle: Array, lower: Array
) -> None:
    """Bollinger bands over an SMA: mean and population deviation from running sums.

    TA-Lib's ``E[x^2] - mean^2`` on raw prices cancels digits, more so after a jump in level. Here
    the sums hold values centred on a recent bar and restart from exact sums whenever the newest
    value is far from that centre (1% of it, and 1000 deviations) or ``_RESYNC`` bars have passed,
    which bounds the round-off of the deviation to ~1e-10 of the price level. A window whose
    values are all equal (no change between neighbours, counted exactly) gets a zero deviation.
    """
    rows, length = middle.shape
    for r in range(rows):
        x = row_of(values, r)
        n = window[r]
        hi, mid, lo = upper[r], middle[r], lower[r]
        first = min(n - 1, length)
        hi[:first] = _NAN
        mid[:first] = _NAN
        lo[:first] = _NAN
        wide_up, wide_down, scale = up[r], down[r], 1.0 / n
        t = n - 1
        while t < length:
            centre = x[t]
            total, squares, moves = _band_sums(x, t, n, centre)
            stop = min(t + _RESYNC, length)
            near = 0.01 * abs(centre)
            bound = near
            while t < stop:
                value = x[t] - centre
                if abs(value) > bound:
                    break  # re-centre on this bar
                old = x[t - n + 1] - centre
                # the window's sums from the n - 1 before it; the carried sums then take the
                # difference newest - oldest: one add per bar on each dependency chain
                window_total = total + value
                window_squares = squares + value * value
                total += value - old
                squares += value * value - old * old
                if n > 1 and x[t] != x[t - 1]:
                    moves += 1
                mean = window_total * scale
                variance = window_squares * scale - mean * mean
                deviation = np.sqrt(variance) if variance >= _EPSILON and moves > 0 else 0.0
                bound = max(near, 1000.0 * deviation)
                level = centre + mean
                mid[t] = level
                hi[t] = level + deviation * wide_up
                lo[t] = level - deviation * wide_down
                if n > 1 and x[t - n + 1] != x[t - n + 2]:
                    moves -= 1
                t += 1


@_jit
def willr(highs: Array, lows: Array, close: Array, window: Array, levels: Array, out: Array) -> None:
    """Williams %R of one series per row from sparse tables of highs and lows ``[K, T]``.

    A window of ``n`` bars is the extreme of the two level-k windows (k = floor(log2 n)) ending at t
    and at ``t - (n - 2**k)``; the arithmetic is TA-Lib's (divide by ``(highest - lowest) / -100``).
    """
    rows, length = out.shape
    for r in range(rows):
        n, k = window[r], levels[r]
        lag = n - (1 << k)
        o, h, lo = out[r], highs[k], lows[k]
        first = min(n - 1, length)
        o[:first] = _NAN
        for t in range(first, length):
            highest = max(h[t], h[t - lag])
            lowest = min(lo[t], lo[t - lag])
            scale = (highest - lowest) / -100.0
            o[t] = (highest - close[t]) / scale if scale != 0.0 else 0.0


@_jit
def lagged(values: Array, window: Array, percent: bool, out: Array) -> None:
    """MOM ``x[t] - x[t-n]`` or, with ``percent``, ROC ``(x[t] / x[t-n] - 1) * 100`` (0 on a zero base)."""
    rows, length = out.shape
    for r in range(rows):
        x, o, n = row_of(values, r), out[r], window[r]
        o[: min(n, length)] = _NAN
        if percent:
            for t in range(n, length):
                old = x[t - n]
                o[t] = (x[t] / old - 1.0) * 100.0 if old != 0.0 else 0.0
        else:
            for t in range(n, length):
                o[t] = x[t] - x[t - n]
