"""Independent reference implementations of the built-in rules: TA-Lib indicators + plain Python loops.

Nothing here imports torchtrader's kernels or signals: these are the golden numbers.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import talib

Array = np.ndarray


def _gt(a: float, b: float) -> bool:
    return not (math.isnan(a) or math.isnan(b)) and a > b


def _lt(a: float, b: float) -> bool:
    return not (math.isnan(a) or math.isnan(b)) and a < b


def _le(a: float, b: float) -> bool:
    return not (math.isnan(a) or math.isnan(b)) and a <= b


def _ge(a: float, b: float) -> bool:
    return not (math.isnan(a) or math.isnan(b)) and a >= b


def crossover_loop(fast: Array, slow: Array, down: float = 0.0) -> list[float]:
    out, pos = [], 0.0
    for t in range(len(fast)):
        if t > 0 and _le(fast[t - 1], slow[t - 1]) and _gt(fast[t], slow[t]):
            pos = 1.0
        elif t > 0 and _ge(fast[t - 1], slow[t - 1]) and _lt(fast[t], slow[t]):
            pos = down
        out.append(pos)
    return out


def sma_cross(close: Array, fast: int, slow: int) -> list[float]:
    return crossover_loop(talib.SMA(close, fast), talib.SMA(close, slow))


def ema_cross(close: Array, fast: int, slow: int) -> list[float]:
    return crossover_loop(talib.EMA(close, fast), talib.EMA(close, slow))


def macd_trend(close: Array, fast: int, slow: int, signal: int, short: bool) -> list[float]:
    line, sig, _ = talib.MACD(close, fast, slow, signal)
    return crossover_loop(line, sig, down=-1.0 if short else 0.0)


def rsi_reversion(close: Array, period: int, lower: float, upper: float) -> list[float]:
    out, pos = [], 0.0
    for value in talib.RSI(close, period):
        if _lt(value, lower):
            pos = 1.0
        elif _gt(value, upper):
            pos = 0.0
        out.append(pos)
    return out


def bollinger_breakout(close: Array, period: int, width: float, short: bool) -> list[float]:
    upper, middle, lower = talib.BBANDS(close, period, width, width, 0)
    out, pos = [], 0.0
    for t, c in enumerate(close):
        if pos == 1.0 and _lt(c, middle[t]):
            pos = 0.0
        if pos == -1.0 and _gt(c, middle[t]):
            pos = 0.0
        if _gt(c, upper[t]):
            pos = 1.0
        elif short and _lt(c, lower[t]):
            pos = -1.0
        out.append(pos)
    return out


def donchian_breakout(high: Array, low: Array, close: Array, entry: int, exit: int) -> list[float]:
    out, pos = [], 0.0
    for t, c in enumerate(close):
        if t >= entry:
            entry_hi, entry_lo = max(high[t - entry : t]), min(low[t - entry : t])
            exit_hi, exit_lo = max(high[t - exit : t]), min(low[t - exit : t])
            if pos == 1.0 and c < exit_lo:
                pos = 0.0
            if pos == -1.0 and c > exit_hi:
                pos = 0.0
            if c > entry_hi:
                pos = 1.0
            elif c < entry_lo:
                pos = -1.0
        out.append(pos)
    return out


def weekly_trend(close: Array, ts_ns: Array, period: int, weeks: int) -> list[float]:
    """Calendar weeks from datetime.isocalendar(), closes of weeks strictly before the bar's week."""
    daily = talib.SMA(close, period)
    week_of = [datetime.fromtimestamp(int(t) // 10**9, tz=UTC).isocalendar()[:2] for t in ts_ns]
    out = []
    for t in range(len(close)):
        finished: dict[tuple[int, int], float] = {}
        for j in range(t):
            if week_of[j] < week_of[t]:
                finished[week_of[j]] = close[j]  # later bars of a week overwrite: the week's last close
        closes = list(finished.values())
        weekly_up = len(closes) >= weeks and closes[-1] > float(np.mean(closes[-weeks:]))
        out.append(1.0 if weekly_up and _gt(close[t], daily[t]) else 0.0)
    return out
