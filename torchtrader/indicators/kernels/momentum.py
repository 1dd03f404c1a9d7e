"""Momentum oscillators: RSI, MACD, STOCH, STOCHRSI, ROC, MOM, WILLR (ADX, CCI: ``trend``; MFI: ``volume``).

Each follows TA-Lib's C implementation (defaults, seeding, zero-division rules, warm-up length);
shapes follow the package conventions (see ``_core``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchtrader.errors import ConfigError
from torchtrader.indicators.kernels import _backend
from torchtrader.indicators.kernels._core import (
    Period,
    empty,
    mask_before,
    nan_head_,
    period,
    prepare,
    zero_before,
)
from torchtrader.indicators.kernels._scan import Smoother, seeded_smoothing
from torchtrader.indicators.kernels.overlap import _ema, _sma
from torchtrader.indicators.kernels.volatility import _highest, _lowest, extreme_levels

# TA-Lib treats |x| < 1e-14 as zero in its ratio guards (TA_IS_ZERO)
_EPSILON = 1e-14


def _ratio(numerator: Tensor, denominator: Tensor, zero_when: Tensor, times: float = 1.0) -> Tensor:
    """``times * (numerator / denominator)``, 0 where ``zero_when`` (TA-Lib's division guards).

    The multiplication comes last, in TA-Lib's order, so a ratio of 1 gives exactly ``times``.
    """
    quotient = numerator / denominator
    if times != 1.0:
        quotient.mul_(times)
    return quotient.masked_fill_(zero_when, 0.0)


def _ma(name: str, x: Tensor, window: Tensor, start: Tensor, matype: int) -> tuple[Tensor, Tensor]:
    if matype == 0:
        return _sma(x, window, start)
    if matype == 1:
        return _ema(x, window, start)
    raise ConfigError(f"{name}: matype {matype} is not supported by the torch kernels (0=SMA, 1=EMA)")


def _rsi(x: Tensor, window: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """RSI as ``100 * avg(gain) / avg(|change|)``, row by row.

    Wilder smoothing is linear, so TA-Lib's ``avg_gain + avg_loss`` is the smoothing of ``|change|``
    (equal up to round-off); the 100 rides on the gains. Each row is finished while it is in cache,
    with one reused scratch row: no [B, T] temporaries.
    """
    if _backend.compiled(x):
        out = empty((int(window.shape[0]), x.shape[-1]), x.dtype, x.device)
        _backend.run("rsi", x, window, start, out)
        return out, start + window
    # the changes stay [1, T] for a shared series: only the smoothing is per combo
    change = torch.nn.functional.pad(x[:, 1:] - x[:, :-1], (1, 0))
    change = zero_before(change, start + 1)
    alpha = 1.0 / window.to(torch.float64)
    gains = Smoother(change.clamp_min(0.0).mul_(100.0), window, start + 1, alpha)
    totals = Smoother(change.abs(), window, start + 1, alpha)
    size, length = int(window.shape[0]), x.shape[-1]
    out = empty((size, length), x.dtype, x.device)
    total = torch.empty(length, dtype=x.dtype, device=x.device)
    flat = torch.empty(length, dtype=torch.bool, device=x.device)
    first = (start + window).tolist()
    for row in range(size if length else 0):
        value = out[row]
        gains.scan(row, value)
        gains.seed(row, value)
        totals.scan(row, total)
        totals.seed(row, total)
        value.div_(total)
        f = min(first[row], length)
        # flat stretches (a zero denominator) are rare: look for them before masking
        if f < length and float(total[f:].min()) < _EPSILON:
            torch.lt(total.abs_(), _EPSILON, out=flat)
            value.masked_fill_(flat, 0.0)
    return out, start + window


def rsi(close: Tensor, timeperiod: Period = 14) -> Tensor:
    """Relative strength index (TA-Lib RSI, Wilder averages); NaN for ``timeperiod`` bars."""
    b = prepare("rsi", [close], [timeperiod])
    n = period("rsi", "timeperiod", timeperiod, b, minimum=2)
    return b.out(_rsi(b.series[0], n, torch.zeros_like(n))[0])


def macd(
    close: Tensor, fastperiod: Period = 12, slowperiod: Period = 26, signalperiod: Period = 9
) -> tuple[Tensor, Tensor, Tensor]:
    """MACD line, signal and histogram exactly as TA-Lib computes them.

    TA-Lib aligns both EMAs on the slow one: the slow EMA is seeded with the SMA of bars
    [0, slow), the fast EMA with the SMA of bars [slow - fast, slow) — not of the first ``fast``
    bars — so its values differ from a stand-alone EMA. The signal EMA is seeded by the SMA of the
    first ``signal`` MACD values, and all three outputs are NaN for ``slow + signal - 2`` bars.
    A fast period larger than the slow one is swapped, as TA-Lib does.
    """
    b = prepare("macd", [close], [fastperiod, slowperiod, signalperiod])
    fast_in = period("macd", "fastperiod", fastperiod, b, minimum=2)
    slow_in = period("macd", "slowperiod", slowperiod, b, minimum=2)
    signal = period("macd", "signalperiod", signalperiod, b, minimum=1)
    fast, slow = torch.minimum(fast_in, slow_in), torch.maximum(fast_in, slow_in)
    x, size, length = b.series[0], b.size, b.length
    if _backend.compiled(x):
        outs = [empty((size, length), x.dtype, x.device) for _ in range(3)]
        _backend.run("macd", x, fast, slow, signal, *outs)
        return b.out(outs[0]), b.out(outs[1]), b.out(outs[2])
    last = (slow + signal - 2).tolist()
    slow_s = Smoother(x, slow, torch.zeros_like(slow), 2.0 / (slow.to(torch.float64) + 1.0))
    fast_s = Smoother(x, fast, slow - fast, 2.0 / (fast.to(torch.float64) + 1.0))
    line = empty((size, length), x.dtype, x.device)
    scratch = torch.empty(length, dtype=x.dtype, device=x.device)
    # one fast period on a shared series (the usual sweep over slow/signal): one fast scan for all
    common = fast_s.shared and bool((fast == fast[0]).all())
    fast_z = torch.empty(length, dtype=x.dtype, device=x.device) if common else None
    if fast_z is not None and length:
        fast_s.scan(0, fast_z)
    for row in range(size if length else 0):
        slow_s.scan(row, scratch)
        slow_s.seed(row, scratch)
        if fast_z is not None:
            line[row].copy_(fast_z)
        else:
            fast_s.scan(row, line[row])
        fast_s.seed(row, line[row])
        line[row].sub_(scratch)
    signal_line, _ = seeded_smoothing(line, signal, slow - 1, 2.0 / (signal.to(torch.float64) + 1.0))
    hist = empty((size, length), x.dtype, x.device)
    for row in range(size if length else 0):
        torch.sub(line[row], signal_line[row], out=hist[row])
        line[row, : last[row]] = math.nan
        hist[row, : last[row]] = math.nan
    return b.out(line), b.out(signal_line), b.out(hist)


def _fast_k(high: Tensor, low: Tensor, close: Tensor, window: Tensor) -> Tensor:
    highest, lowest = _highest(high, window), _lowest(low, window)
    # TA-Lib divides by (highest - lowest) / 100 and outputs 0 on a flat window
    scale = (highest - lowest) / 100.0
    return _ratio(close - lowest, scale, scale == 0)


def stoch(
    high: Tensor,
    low: Tensor,
    close: Tensor,
    fastk_period: Period = 5,
    slowk_period: Period = 3,
    slowk_matype: int = 0,
    slowd_period: Period = 3,
    slowd_matype: int = 0,
) -> tuple[Tensor, Tensor]:
    """Slow stochastic ``(slowk, slowd)`` (TA-Lib STOCH; matype 0 = SMA or 1 = EMA)."""
    b = prepare("stoch", [high, low, close], [fastk_period, slowk_period, slowd_period])
    fk = period("stoch", "fastk_period", fastk_period, b)
    sk = period("stoch", "slowk_period", slowk_period, b)
    sd = period("stoch", "slowd_period", slowd_period, b)
    if _backend.compiled(b.series[0]):
        raw = empty((b.size, b.length), b.dtype, b.device)
        _backend.run("fast_k", *b.series, fk, torch.zeros_like(fk), 0.0, raw)
    else:
        raw = _fast_k(b.series[0], b.series[1], b.series[2], fk)
    k, first_k = _ma("stoch", raw, sk, fk - 1, slowk_matype)
    d, first_d = _ma("stoch", k, sd, first_k, slowd_matype)
    return b.out(nan_head_(k, first_d)), b.out(d)


def stochrsi(
    close: Tensor,
    timeperiod: Period = 14,
    fastk_period: Period = 5,
    fastd_period: Period = 3,
    fastd_matype: int = 0,
) -> tuple[Tensor, Tensor]:
    """Stochastic of the RSI ``(fastk, fastd)`` (TA-Lib STOCHRSI = STOCHF over RSI)."""
    b = prepare("stochrsi", [close], [timeperiod, fastk_period, fastd_period])
    n = period("stochrsi", "timeperiod", timeperiod, b, minimum=2)
    fk = period("stochrsi", "fastk_period", fastk_period, b)
    fd = period("stochrsi", "fastd_period", fastd_period, b)
    strength, first = _rsi(b.series[0], n, torch.zeros_like(n))
    if _backend.compiled(strength):
        # a range below 1e-10 RSI points counts as flat (see the torch path below)
        k = empty((b.size, b.length), b.dtype, b.device)
        _backend.run("fast_k", strength, strength, strength, fk, first, 1e-12, k)
        d, last = _ma("stochrsi", k, fd, first + fk - 1, fastd_matype)
        return b.out(nan_head_(k, last)), b.out(d)
    highest = mask_before(torch.nan_to_num(_highest(torch.nan_to_num(strength), fk)), first + fk - 1)
    lowest = mask_before(torch.nan_to_num(_lowest(torch.nan_to_num(strength), fk)), first + fk - 1)
    scale = (highest - lowest) / 100.0
    # after a flat stretch RSI is constant in exact arithmetic, but its values differ in the last
    # bits (ours from the blocked scan, TA-Lib's from its loop), and %K of ulp noise is garbage:
    # a range below 1e-10 RSI points counts as flat, which TA-Lib maps to 0 as well
    k = _ratio(strength - lowest, scale, scale.abs() < 1e-12)
    d, last = _ma("stochrsi", k, fd, first + fk - 1, fastd_matype)
    return b.out(mask_before(k, last)), b.out(d)


def _lagged(name: str, close: Tensor, timeperiod: Period, roc: bool) -> Tensor:
    b = prepare(name, [close], [timeperiod])
    n = period(name, "timeperiod", timeperiod, b)
    x, length = b.series[0], b.length
    out = empty((b.size, length), x.dtype, x.device)
    if _backend.compiled(x):
        _backend.run("lagged", x, n, roc, out)
        return b.out(out)
    for row, lag in enumerate(n.tolist()):
        out[row, : min(lag, length)] = math.nan
        if lag >= length:
            continue
        now, old = x[0 if x.shape[0] == 1 else row, lag:], x[0 if x.shape[0] == 1 else row, :-lag]
        if roc:  # TA-Lib: ((now / old) - 1) * 100, and 0 where the old close is 0
            safe = torch.where(old == 0, torch.ones_like(old), old)
            out[row, lag:] = torch.where(old == 0, torch.zeros_like(now), (now / safe - 1.0) * 100.0)
        else:
            torch.sub(now, old, out=out[row, lag:])
    return b.out(out)


def mom(close: Tensor, timeperiod: Period = 10) -> Tensor:
    """Momentum ``close - close[t - timeperiod]`` (TA-Lib MOM); NaN for ``timeperiod`` bars."""
    return _lagged("mom", close, timeperiod, roc=False)


def roc(close: Tensor, timeperiod: Period = 10) -> Tensor:
    """Rate of change in percent (TA-Lib ROC, 0 where the old close is 0); NaN for ``timeperiod`` bars."""
    return _lagged("roc", close, timeperiod, roc=True)


def willr(high: Tensor, low: Tensor, close: Tensor, timeperiod: Period = 14) -> Tensor:
    """Williams %R in [-100, 0] (TA-Lib WILLR, 0 on a flat window); NaN for ``timeperiod - 1`` bars."""
    b = prepare("willr", [high, low, close], [timeperiod])
    n = period("willr", "timeperiod", timeperiod, b, minimum=2)
    if all(series.shape[0] == 1 for series in b.series):
        if _backend.compiled(*b.series):
            return b.out(_willr_compiled(b.series[0][0], b.series[1][0], b.series[2][0], n))
        return b.out(_willr_rows(b.series[0][0], b.series[1][0], b.series[2][0], n))
    highest, lowest = _highest(b.series[0], n), _lowest(b.series[1], n)
    # in place on the fresh buffers: (lowest - highest) / 100 is exactly (highest - lowest) / -100
    scale = lowest.sub_(highest).div_(100.0)
    flat = scale == 0
    return b.out(highest.sub_(b.series[2]).div_(scale).masked_fill_(flat, 0.0))


def _willr_compiled(high: Tensor, low: Tensor, close: Tensor, window: Tensor) -> Tensor:
    """WILLR of one shared series on the compiled path: one fused pass per row over sparse tables."""
    ks = torch.tensor([n.bit_length() - 1 for n in window.tolist()], dtype=torch.int64)
    top = int(ks.max())
    highs = torch.stack(extreme_levels(high, top, largest=True))
    lows = torch.stack(extreme_levels(low, top, largest=False))
    out = empty((int(window.shape[0]), high.shape[-1]), high.dtype, high.device)
    _backend.run("willr", highs, lows, close, window, ks, out)
    return out


def _willr_rows(high: Tensor, low: Tensor, close: Tensor, window: Tensor) -> Tensor:
    """WILLR of one shared series for every window, row by row from shared sparse tables.

    Each row is finished in two reused scratch rows (no [B, T] temporaries). A window of w bars is
    the extreme of two overlapping level-k windows, k = floor(log2 w).
    """
    length = high.shape[-1]
    ks = [n.bit_length() - 1 for n in window.tolist()]
    top = max(ks)
    highs, lows = extreme_levels(high, top, largest=True), extreme_levels(low, top, largest=False)
    out = empty((len(ks), length), high.dtype, high.device)
    highest, scale = torch.empty_like(high), torch.empty_like(high)
    flat = torch.empty(length, dtype=torch.bool, device=high.device)
    for row, (n, k) in enumerate(zip(window.tolist(), ks, strict=True)):
        lag = min(n - (1 << k), length)  # bars before `lag` are warm-up (lag <= n - 1): NaN below
        h, lo = highs[k], lows[k]
        torch.maximum(h[lag:], h[: length - lag], out=highest[lag:])
        torch.minimum(lo[lag:], lo[: length - lag], out=scale[lag:])
        # TA-Lib divides by (highest - lowest) / -100 and outputs 0 on a flat window;
        # (lowest - highest) / 100 is exactly that
        scale.sub_(highest).div_(100.0)
        value = out[row]
        torch.sub(highest, close, out=value).div_(scale)
        value.masked_fill_(torch.eq(scale, 0.0, out=flat), 0.0)
        value[: min(n - 1, length)] = math.nan
    return out
