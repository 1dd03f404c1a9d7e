"""Compiled CPU loops of TA-Lib's exponential recurrences: EMA/Wilder smoothing, RSI and MACD.

Each loop is latency-bound (every value waits for the previous one), so four rows (two for MACD,
which runs three recurrences per row) advance together: their dependency chains overlap in the
core's pipeline. Rows start at different bars, so each row first runs alone up to the latest start
of its group (``*_head``), then the group steps in lock-step. A group short of rows repeats its last
row: the duplicate lanes write the same values twice.

Arithmetic follows TA-Lib (seed = mean of the first ``n`` valid values, ``y += k * (x - y)``), with
one deliberate difference: Wilder's ``(y * (n - 1) + x) / n`` is computed as a multiply-add with
precomputed factors instead of a division (equal within 1 ulp per step; the error does not grow
because the recursion contracts). NaN inside the series propagates as in TA-Lib.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

Array = np.ndarray[Any, Any]

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")
_NAN = np.nan
# TA-Lib's TA_IS_ZERO threshold for a zero denominator
_EPSILON = 1e-14


@_jit
def lanes(r0: int, rows: int, width: int) -> tuple[int, int, int, int]:
    """Row indices of a group of four starting at ``r0`` (``width`` of them distinct)."""
    last = rows - 1
    step = 1 if width == 4 else 0
    return r0, min(r0 + 1, last), min(r0 + 2 * step, last), min(r0 + 3 * step, last)


@_jit
def group(
    values: Array, out: Array, r0: int
) -> tuple[tuple[int, int, int, int], tuple[Array, Array, Array, Array], tuple[Array, Array, Array, Array]]:
    """The four rows of the group starting at ``r0``: their indices, input rows and output rows."""
    a, b, c, d = lanes(r0, out.shape[0], 4)
    inputs = (row_of(values, a), row_of(values, b), row_of(values, c), row_of(values, d))
    return (a, b, c, d), inputs, (out[a], out[b], out[c], out[d])


@_jit
def row_of(values: Array, r: int) -> Array:
    """Row r of ``[B, T]`` values, or the one row of a shared ``[1, T]`` series."""
    row: Array = values[0] if values.shape[0] == 1 else values[r]
    return row


@_jit
def _emit(y: float, percent_of: Array, t: int) -> float:
    """The value written at bar t: the state, or (NATR) the state in percent of ``percent_of[t]``
    (TA-Lib's ``(atr / close) * 100``, 0 where the close is 0); no ``percent_of`` when it is empty."""
    if percent_of.shape[0] == 0:
        return y
    base = percent_of[t]
    return (y / base) * 100.0 if base != 0.0 else 0.0


@_jit
def _ema_head(x: Array, out: Array, n: int, s: int, percent_of: Array) -> tuple[float, int]:
    """NaN warm-up and the SMA seed at ``f = s + n - 1``; returns (state, next bar)."""
    length = out.shape[0]
    f = s + n - 1
    if f >= length:
        out[:] = _NAN
        return _NAN, length
    out[:f] = _NAN
    total = 0.0
    for t in range(s, f + 1):
        total += x[t]
    y = total / n
    out[f] = _emit(y, percent_of, f)
    return y, f + 1


@_jit
def _ema_steps(x: Array, out: Array, y: float, k: float, t0: int, t1: int, percent_of: Array) -> float:
    for t in range(t0, t1):
        y = (x[t] - y) * k + y
        out[t] = _emit(y, percent_of, t)
    return y


@_jit
def smooth(values: Array, window: Array, start: Array, alpha: Array, out: Array, percent_of: Array) -> None:
    """TA-Lib's seeded smoothing (EMA: alpha = 2/(n+1), Wilder: 1/n) of every row into ``out``,
    written in percent of ``percent_of`` (NATR) unless that is empty."""
    rows, length = out.shape
    for r0 in range(0, rows, 4):
        (a, b, c, d), (xa, xb, xc, xd), (oa, ob, oc, od) = group(values, out, r0)
        ka, kb, kc, kd = alpha[a], alpha[b], alpha[c], alpha[d]
        ya, ta = _ema_head(xa, oa, window[a], start[a], percent_of)
        yb, tb = _ema_head(xb, ob, window[b], start[b], percent_of)
        yc, tc = _ema_head(xc, oc, window[c], start[c], percent_of)
        yd, td = _ema_head(xd, od, window[d], start[d], percent_of)
        top = max(max(ta, tb), max(tc, td))
        ya = _ema_steps(xa, oa, ya, ka, ta, top, percent_of)
        yb = _ema_steps(xb, ob, yb, kb, tb, top, percent_of)
        yc = _ema_steps(xc, oc, yc, kc, tc, top, percent_of)
        yd = _ema_steps(xd, od, yd, kd, td, top, percent_of)
        for t in range(top, length):
            ya = (xa[t] - ya) * ka + ya
            yb = (xb[t] - yb) * kb + yb
            yc = (xc[t] - yc) * kc + yc
            yd = (xd[t] - yd) * kd + yd
            oa[t] = _emit(ya, percent_of, t)
            ob[t] = _emit(yb, percent_of, t)
            oc[t] = _emit(yc, percent_of, t)
            od[t] = _emit(yd, percent_of, t)


@_jit
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if -_EPSILON < total < _EPSILON:
        return 0.0
    return 100.0 * (gain / total)


@_jit
def _moves(change: float) -> tuple[float, float]:
    """(gain, loss) of one change; a NaN change makes both NaN (TA-Lib propagates it)."""
    up = change if not change <= 0.0 else 0.0
    down = -change if not change >= 0.0 else 0.0
    return up, down


@_jit
def _rsi_head(x: Array, out: Array, n: int, s: int) -> tuple[float, float, int]:
    """Mean gain and loss of the first ``n`` changes after bar ``s``; first output at ``s + n``."""
    length = out.shape[0]
    f = s + n
    if f >= length:
        out[:] = _NAN
        return _NAN, _NAN, length
    out[:f] = _NAN
    gain = 0.0
    loss = 0.0
    for t in range(s + 1, f + 1):
        up, down = _moves(x[t] - x[t - 1])
        gain += up
        loss += down
    gain /= n
    loss /= n
    out[f] = _rsi_value(gain, loss)
    return gain, loss, f + 1


@_jit
def _rsi_steps(
    x: Array, out: Array, gain: float, loss: float, n: int, t0: int, t1: int
) -> tuple[float, float]:
    keep, add = (n - 1.0) / n, 1.0 / n
    for t in range(t0, t1):
        up, down = _moves(x[t] - x[t - 1])
        gain = gain * keep + up * add
        loss = loss * keep + down * add
        out[t] = _rsi_value(gain, loss)
    return gain, loss


@_jit
def rsi(values: Array, window: Array, start: Array, out: Array) -> None:
    """TA-Lib RSI (Wilder averages of gains and losses) of every row into ``out``."""
    rows, length = out.shape
    for r0 in range(0, rows, 4):
        (a, b, c, d), (xa, xb, xc, xd), (oa, ob, oc, od) = group(values, out, r0)
        ga, la, ta = _rsi_head(xa, oa, window[a], start[a])
        gb, lb, tb = _rsi_head(xb, ob, window[b], start[b])
        gc, lc, tc = _rsi_head(xc, oc, window[c], start[c])
        gd, ld, td = _rsi_head(xd, od, window[d], start[d])
        top = max(max(ta, tb), max(tc, td))
        ga, la = _rsi_steps(xa, oa, ga, la, window[a], ta, top)
        gb, lb = _rsi_steps(xb, ob, gb, lb, window[b], tb, top)
        gc, lc = _rsi_steps(xc, oc, gc, lc, window[c], tc, top)
        gd, ld = _rsi_steps(xd, od, gd, ld, window[d], td, top)
        na, nb, nc, nd = window[a], window[b], window[c], window[d]
        keep_a, keep_b, keep_c, keep_d = (na - 1.0) / na, (nb - 1.0) / nb, (nc - 1.0) / nc, (nd - 1.0) / nd
        add_a, add_b, add_c, add_d = 1.0 / na, 1.0 / nb, 1.0 / nc, 1.0 / nd
        for t in range(top, length):
            up, down = _moves(xa[t] - xa[t - 1])
            ga = ga * keep_a + up * add_a
            la = la * keep_a + down * add_a
            up, down = _moves(xb[t] - xb[t - 1])
            gb = gb * keep_b + up * add_b
            lb = lb * keep_b + down * add_b
            up, down = _moves(xc[t] - xc[t - 1])
            gc = gc * keep_c + up * add_c
            lc = lc * keep_c + down * add_c
            up, down = _moves(xd[t] - xd[t - 1])
            gd = gd * keep_d + up * add_d
            ld = ld * keep_d + down * add_d
            oa[t] = _rsi_value(ga, la)
            ob[t] = _rsi_value(gb, lb)
            oc[t] = _rsi_value(gc, lc)
            od[t] = _rsi_value(gd, ld)


@_jit
def _macd_head(
    x: Array, line: Array, signal: Array, hist: Array, fast: int, slow: int, width: int
) -> tuple[float, float, float, int]:
    """TA-Lib's MACD up to its first output ``q = slow + width - 2``; returns the three states.

    Both EMAs are seeded at ``slow - 1`` (the fast one by the mean of the ``fast`` bars before it),
    the signal EMA by the mean of the first ``width`` MACD values.
    """
    length = line.shape[0]
    q = slow + width - 2
    if q >= length:
        line[:] = _NAN
        signal[:] = _NAN
        hist[:] = _NAN
        return _NAN, _NAN, _NAN, length
    kf, ks = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
    slow_y = 0.0
    fast_y = 0.0
    for t in range(slow):
        slow_y += x[t]
    for t in range(slow - fast, slow):
        fast_y += x[t]
    slow_y /= slow
    fast_y /= fast
    total = fast_y - slow_y
    for t in range(slow, q + 1):
        slow_y = (x[t] - slow_y) * ks + slow_y
        fast_y = (x[t] - fast_y) * kf + fast_y
        total += fast_y - slow_y
    signal_y = total / width
    line[:q] = _NAN
    signal[:q] = _NAN
    hist[:q] = _NAN
    value = fast_y - slow_y
    line[q] = value
    signal[q] = signal_y
    hist[q] = value - signal_y
    return fast_y, slow_y, signal_y, q + 1


@_jit
def _macd_steps(
    x: Array,
    line: Array,
    signal: Array,
    hist: Array,
    state: tuple[float, float, float],
    factors: tuple[float, float, float],
    t0: int,
    t1: int,
) -> tuple[float, float, float]:
    fast_y, slow_y, signal_y = state
    kf, ks, kg = factors
    for t in range(t0, t1):
        fast_y = (x[t] - fast_y) * kf + fast_y
        slow_y = (x[t] - slow_y) * ks + slow_y
        value = fast_y - slow_y
        signal_y = (value - signal_y) * kg + signal_y
        line[t] = value
        signal[t] = signal_y
        hist[t] = value - signal_y
    return fast_y, slow_y, signal_y


@_jit
def macd(
    values: Array, fast: Array, slow: Array, width: Array, line: Array, signal: Array, hist: Array
) -> None:
    """TA-Lib MACD (fast <= slow, as the caller ensures) of every row, two rows at a time."""
    rows, length = line.shape
    for r0 in range(0, rows, 2):
        a, b, _, _ = lanes(r0, rows, 2)
        xa, xb = row_of(values, a), row_of(values, b)
        kfa, ksa, kga = 2.0 / (fast[a] + 1.0), 2.0 / (slow[a] + 1.0), 2.0 / (width[a] + 1.0)
        kfb, ksb, kgb = 2.0 / (fast[b] + 1.0), 2.0 / (slow[b] + 1.0), 2.0 / (width[b] + 1.0)
        fa, sa, ga, ta = _macd_head(xa, line[a], signal[a], hist[a], fast[a], slow[a], width[a])
        fb, sb, gb, tb = _macd_head(xb, line[b], signal[b], hist[b], fast[b], slow[b], width[b])
        top = max(ta, tb)
        fa, sa, ga = _macd_steps(xa, line[a], signal[a], hist[a], (fa, sa, ga), (kfa, ksa, kga), ta, top)
        fb, sb, gb = _macd_steps(xb, line[b], signal[b], hist[b], (fb, sb, gb), (kfb, ksb, kgb), tb, top)
        la, lb, sia, sib, ha, hb = line[a], line[b], signal[a], signal[b], hist[a], hist[b]
        for t in range(top, length):
            fa = (xa[t] - fa) * kfa + fa
            sa = (xa[t] - sa) * ksa + sa
            fb = (xb[t] - fb) * kfb + fb
            sb = (xb[t] - sb) * ksb + sb
            va = fa - sa
            vb = fb - sb
            ga = (va - ga) * kga + ga
            gb = (vb - gb) * kgb + gb
            la[t] = va
            lb[t] = vb
            sia[t] = ga
            sib[t] = gb
            ha[t] = va - ga
            hb[t] = vb - gb


@_jit
def _cascade_head(x: Array, o: Array, n: int, depth: int) -> tuple[float, float, float, int]:
    """The EMA chain up to its first output (``2(n-1)`` for DEMA, ``3(n-1)`` for TEMA), each EMA
    seeded by the mean of the first ``n`` values of the one before it; returns the states and the
    next bar."""
    length = o.shape[0]
    k = 2.0 / (n + 1.0)
    f1, f2, f3 = n - 1, 2 * (n - 1), 3 * (n - 1)
    last = f2 if depth == 2 else f3
    if last >= length:
        o[:] = _NAN
        return _NAN, _NAN, _NAN, length
    o[:last] = _NAN
    e1 = 0.0
    for t in range(n):
        e1 += x[t]
    e1 /= n
    seed2 = e1
    for t in range(f1 + 1, f2 + 1):
        e1 = (x[t] - e1) * k + e1
        seed2 += e1
    e2 = seed2 / n
    e3 = 0.0
    if depth == 3:
        seed3 = e2
        for t in range(f2 + 1, f3 + 1):
            e1 = (x[t] - e1) * k + e1
            e2 = (e1 - e2) * k + e2
            seed3 += e2
        e3 = seed3 / n
    o[last] = _combine(e1, e2, e3, depth)
    return e1, e2, e3, last + 1


@_jit
def _combine(e1: float, e2: float, e3: float, depth: int) -> float:
    return 2.0 * e1 - e2 if depth == 2 else 3.0 * e1 - 3.0 * e2 + e3


@_jit
def _cascade_steps(
    x: Array, o: Array, state: tuple[float, float, float], k: float, depth: int, t0: int, t1: int
) -> tuple[float, float, float]:
    e1, e2, e3 = state
    for t in range(t0, t1):
        e1 = (x[t] - e1) * k + e1
        e2 = (e1 - e2) * k + e2
        if depth == 3:
            e3 = (e2 - e3) * k + e3
        o[t] = _combine(e1, e2, e3, depth)
    return e1, e2, e3


@_jit
def cascade(values: Array, window: Array, depth: int, out: Array) -> None:
    """TA-Lib DEMA (``depth`` 2: ``2*E1 - E2``) or TEMA (3: ``3*E1 - 3*E2 + E3``), the whole EMA
    chain in one pass per row (no intermediate series), two rows at a time."""
    rows, length = out.shape
    for r0 in range(0, rows, 2):
        a, b, _, _ = lanes(r0, rows, 2)
        xa, xb, oa, ob = row_of(values, a), row_of(values, b), out[a], out[b]
        ka, kb = 2.0 / (window[a] + 1.0), 2.0 / (window[b] + 1.0)
        a1, a2, a3, ta = _cascade_head(xa, oa, window[a], depth)
        b1, b2, b3, tb = _cascade_head(xb, ob, window[b], depth)
        top = max(ta, tb)
        a1, a2, a3 = _cascade_steps(xa, oa, (a1, a2, a3), ka, depth, ta, top)
        b1, b2, b3 = _cascade_steps(xb, ob, (b1, b2, b3), kb, depth, tb, top)
        if depth == 2:
            for t in range(top, length):
                a1 = (xa[t] - a1) * ka + a1
                b1 = (xb[t] - b1) * kb + b1
                a2 = (a1 - a2) * ka + a2
                b2 = (b1 - b2) * kb + b2
                oa[t] = 2.0 * a1 - a2
                ob[t] = 2.0 * b1 - b2
        else:
            for t in range(top, length):
                a1 = (xa[t] - a1) * ka + a1
                b1 = (xb[t] - b1) * kb + b1
                a2 = (a1 - a2) * ka + a2
                b2 = (b1 - b2) * kb + b2
                a3 = (a2 - a3) * ka + a3
                b3 = (b2 - b3) * kb + b3
                oa[t] = 3.0 * a1 - 3.0 * a2 + a3
                ob[t] = 3.0 * b1 - 3.0 * b2 + b3
