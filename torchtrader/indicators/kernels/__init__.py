"""Batched torch indicator kernels with TA-Lib parity (float32/float64, CPU/CUDA).

Every kernel takes prices of shape ``[T]`` or ``[B, T]`` and period-like parameters as an ``int``
or a 1-D int64 tensor ``[B]`` (one per parameter combination). The result is ``[T]`` when nothing is
batched and ``[B, T]`` otherwise; warm-up bars are NaN exactly where TA-Lib's output is NaN, and a
period longer than the series gives all NaN (so prefixes of a series never raise). Periods below
TA-Lib's minimum raise ``ConfigError``.

CPU tensors run compiled loops of TA-Lib's recurrences (rolling max/min, OBV and TRANGE stay one
vectorised torch pass), other devices the torch implementation;
``backend("torch")`` forces the torch path (see ``_backend``). Large CPU results are recycled once
freed; ``release_buffers()`` hands the idle ones back to the OS (see ``_hostcache``).
"""

from torchtrader.indicators.kernels._backend import backend
from torchtrader.indicators.kernels._hostcache import release as release_buffers
from torchtrader.indicators.kernels.momentum import (
    macd,
    mom,
    roc,
    rsi,
    stoch,
    stochrsi,
    willr,
)
from torchtrader.indicators.kernels.overlap import bbands, dema, ema, sma, tema, wma
from torchtrader.indicators.kernels.trend import adx, cci
from torchtrader.indicators.kernels.volatility import atr, donchian, natr, rolling_max, rolling_min, trange
from torchtrader.indicators.kernels.volume import mfi, obv

__all__ = [
    "adx",
    "atr",
    "backend",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "macd",
    "mfi",
    "mom",
    "natr",
    "obv",
    "release_buffers",
    "roc",
    "rolling_max",
    "rolling_min",
    "rsi",
    "sma",
    "stoch",
    "stochrsi",
    "tema",
    "trange",
    "willr",
    "wma",
]
