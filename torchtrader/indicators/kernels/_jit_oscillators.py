"""Compiled CPU loops of TA-Lib's ADX, CCI and MFI, one row (one period) at a time.

ADX follows TA-Lib's loop (Wilder sums ``s - s/n + v``, as ``s * (1 - 1/n) + v``, of the directional
moves and true range; bars with a zero true range or DI sum leave the ADX unchanged). CCI's mean absolute
deviation has no running form (O(n) per bar, as TA-Lib's); it is summed with reassociation allowed
so the compiler vectorises it. MFI keeps running sums of the money flows with a count of each side's
flows, so a side without any flow is exactly 0 where TA-Lib's sums leave round-off residues.
"""

from __future__ import annotations

import numba
import numpy as np

from torchtrader.indicators.kernels._jit_smoothing import Array, row_of

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")
_NAN = np.nan
_EPSILON = 1e-14


@_jit
def _moves(high: Array, low: Array, close: Array, t: int) -> tuple[float, float, float]:
    """(+DM, -DM, true range) of bar t against bar t - 1, by TA-Lib's rules."""
    up = high[t] - high[t - 1]
    down = low[t - 1] - low[t]
    plus = 0.0
    minus = 0.0
    if down > 0.0 and up < down:
        minus = down
    elif up > 0.0 and up > down:
        plus = up
    previous = close[t - 1]
    rng = high[t] - low[t]
    rng = max(rng, abs(high[t] - previous))
    rng = max(rng, abs(low[t] - previous))
    return plus, minus, rng


@_jit
def _dx(plus: float, minus: float, rng: float) -> float:
    """100 * |DI- - DI+| / (DI- + DI+), NaN where TA-Lib skips the bar (zero range or DI sum)."""
    if -_EPSILON < rng < _EPSILON:
        return _NAN
    scale = 100.0 / rng
    di_minus = minus * scale
    di_plus = plus * scale
    total = di_minus + di_plus
    if -_EPSILON < total < _EPSILON:
        return _NAN
    return 100.0 * (abs(di_minus - di_plus) / total)


@_jit
def _adx_step(
    high: Array, low: Array, close: Array, t: int, sums: tuple[float, float, float], keep: float
) -> tuple[tuple[float, float, float], float]:
    """Wilder sums of +DM, -DM and true range after bar t, and the bar's DX (NaN: skipped)."""
    plus, minus, rng = _moves(high, low, close, t)
    plus_s, minus_s, range_s = sums
    plus_s = plus_s * keep + plus
    minus_s = minus_s * keep + minus
    range_s = range_s * keep + rng
    return (plus_s, minus_s, range_s), _dx(plus_s, minus_s, range_s)


@_jit
def adx(highs: Array, lows: Array, closes: Array, window: Array, out: Array) -> None:
    rows, length = out.shape
    for r in range(rows):
        high, low, close = row_of(highs, r), row_of(lows, r), row_of(closes, r)
        o, n = out[r], window[r]
        first = 2 * n - 1
        if first >= length:
            o[:] = _NAN
            continue
        o[:first] = _NAN
        plus_s = 0.0
        minus_s = 0.0
        range_s = 0.0
        for t in range(1, n):
            plus, minus, rng = _moves(high, low, close, t)
            plus_s += plus
            minus_s += minus
            range_s += rng
        keep, add = (n - 1.0) / n, 1.0 / n
        dx_sum = 0.0
        sums = (plus_s, minus_s, range_s)
        for t in range(n, first + 1):
            sums, dx = _adx_step(high, low, close, t, sums, keep)
            if dx == dx:
                dx_sum += dx
        value = dx_sum / n
        o[first] = value
        for t in range(first + 1, length):
            sums, dx = _adx_step(high, low, close, t, sums, keep)
            if dx == dx:
                value = value * keep + dx * add
            o[t] = value


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath=True)
def _offsets(typical: Array, lo: int, hi: int, now: float, mean: float) -> tuple[float, float]:
    """Sums of ``x - now`` and of ``|x - now - mean|`` over ``typical[lo:hi]``, reassociated
    (vectorised) by the compiler: round-off of a sum, far below the 1e-9 parity."""
    total = 0.0
    spread = 0.0
    for i in range(lo, hi):
        offset = typical[i] - now
        total += offset
        spread += abs(offset - mean)
    return total, spread


@_jit
def cci(typicals: Array, window: Array, out: Array) -> None:
    """CCI from typical prices ``[R, T]`` (float64), relative to the current bar's typical price:
    CCI divides the small difference typical - mean, and differences of nearby prices are exact,
    so a flat window gives exactly 0 instead of the round-off of a mean of large numbers."""
    rows, length = out.shape
    for r in range(rows):
        typical, o, n = row_of(typicals, r), out[r], window[r]
        first = min(n - 1, length)
        o[:first] = _NAN
        for t in range(n - 1, length):
            now = typical[t]
            total, _ = _offsets(typical, t - n + 1, t + 1, now, 0.0)
            mean = total / n
            _, spread = _offsets(typical, t - n + 1, t + 1, now, mean)
            deviation = spread / n
            tiny = 1e-14 * abs(now)
            if abs(mean) <= tiny or deviation <= tiny:
                o[t] = 0.0
            else:
                o[t] = -mean / (0.015 * deviation)


@_jit
def mfi(positive: Array, negative: Array, window: Array, out: Array) -> None:
    """MFI from the bars' positive and negative money flows ``[R, T]`` (0 where a bar has none)."""
    rows, length = out.shape
    for r in range(rows):
        up, down, o, n = row_of(positive, r), row_of(negative, r), out[r], window[r]
        if n >= length:
            o[:] = _NAN
            continue
        o[:n] = _NAN
        pos_sum = 0.0
        neg_sum = 0.0
        ups = 0
        downs = 0
        for t in range(1, length):
            pos_sum += up[t]
            neg_sum += down[t]
            ups += up[t] != 0.0
            downs += down[t] != 0.0
            if t >= n:
                pos = pos_sum if ups else 0.0
                neg = neg_sum if downs else 0.0
                total = pos + neg
                o[t] = 0.0 if total == 0.0 else 100.0 * (pos / total)
                old = t - n + 1
                pos_sum -= up[old]
                neg_sum -= down[old]
                ups -= up[old] != 0.0
                downs -= down[old] != 0.0


@_jit
def _levels(x: Array, top: int, largest: bool, table: Array) -> None:
    """Sparse table of x: ``table[j, t]`` = extreme of the ``2**j`` values ending at t (fewer at the
    start), for j = 0 .. top."""
    length = x.shape[0]
    table[0, :] = x
    for j in range(1, top + 1):
        step = 1 << (j - 1)
        previous, current = table[j - 1], table[j]
        current[: min(step, length)] = previous[: min(step, length)]
        if largest:
            for t in range(step, length):
                current[t] = max(previous[t], previous[t - step])
        else:
            for t in range(step, length):
                current[t] = min(previous[t], previous[t - step])


@_jit
def fast_k(
    highs: Array, lows: Array, closes: Array, window: Array, start: Array, flat: float, out: Array
) -> None:
    """Stochastic %K ``(close - lowest) / ((highest - lowest) / 100)``, 0 on a flat window
    (``|range / 100| <= flat``), from ``start + n - 1`` on. The window's extremes come from sparse
    tables (two overlapping power-of-two windows), built once for a shared series."""
    rows, length = out.shape
    top = 0
    for r in range(rows):
        top = max(top, int(np.log2(window[r])))
    table_high = np.empty((top + 1, length))
    table_low = np.empty((top + 1, length))
    shared = highs.shape[0] == 1 and lows.shape[0] == 1
    if shared:
        _levels(highs[0], top, True, table_high)
        _levels(lows[0], top, False, table_low)
    for r in range(rows):
        close, o, n, s = row_of(closes, r), out[r], window[r], start[r]
        level = int(np.log2(n))
        if (1 << (level + 1)) <= n:  # guard against log2 round-off
            level += 1
        lag = n - (1 << level)
        if not shared:
            _levels(row_of(highs, r), level, True, table_high)
            _levels(row_of(lows, r), level, False, table_low)
        first = min(s + n - 1, length)
        o[:first] = _NAN
        h, lo = table_high[level], table_low[level]
        for t in range(first, length):
            highest = max(h[t], h[t - lag])
            lowest = min(lo[t], lo[t - lag])
            scale = (highest - lowest) / 100.0
            o[t] = 0.0 if abs(scale) <= flat else (close[t] - lowest) / scale
