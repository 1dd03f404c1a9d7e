"""Each torch kernel next to its TA-Lib twin, and the comparison that proves parity.

Used by the test suite and the benchmark (which checks results before timing them). Kernel
keyword names equal TA-Lib's, so both sides are called with the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import talib
import torch

from torchtrader.indicators import kernels


@dataclass(frozen=True)
class Twin:
    """A torch kernel, the TA-Lib function it reproduces, its inputs and its period parameters."""

    name: str
    kernel: Callable[..., Any]
    talib_name: str
    inputs: tuple[str, ...]
    periods: tuple[str, ...] = ("timeperiod",)

    @property
    def talib_fn(self) -> Callable[..., Any]:
        fn: Callable[..., Any] = getattr(talib, self.talib_name)
        return fn


_C, _HLC = ("close",), ("high", "low", "close")

TWINS: dict[str, Twin] = {
    t.name: t
    for t in [
        Twin("sma", kernels.sma, "SMA", _C),
        Twin("ema", kernels.ema, "EMA", _C),
        Twin("wma", kernels.wma, "WMA", _C),
        Twin("dema", kernels.dema, "DEMA", _C),
        Twin("tema", kernels.tema, "TEMA", _C),
        Twin("bbands", kernels.bbands, "BBANDS", _C),
        Twin("rsi", kernels.rsi, "RSI", _C),
        Twin("macd", kernels.macd, "MACD", _C, ("fastperiod", "slowperiod", "signalperiod")),
        Twin("rolling_max", kernels.rolling_max, "MAX", _C),
        Twin("rolling_min", kernels.rolling_min, "MIN", _C),
        Twin("mom", kernels.mom, "MOM", _C),
        Twin("roc", kernels.roc, "ROC", _C),
        Twin("trange", kernels.trange, "TRANGE", _HLC, ()),
        Twin("atr", kernels.atr, "ATR", _HLC),
        Twin("natr", kernels.natr, "NATR", _HLC),
        Twin("adx", kernels.adx, "ADX", _HLC),
        Twin("cci", kernels.cci, "CCI", _HLC),
        Twin("willr", kernels.willr, "WILLR", _HLC),
        Twin("stoch", kernels.stoch, "STOCH", _HLC, ("fastk_period", "slowk_period", "slowd_period")),
        Twin("stochrsi", kernels.stochrsi, "STOCHRSI", _C, ("timeperiod", "fastk_period", "fastd_period")),
        Twin("mfi", kernels.mfi, "MFI", (*_HLC, "volume")),
        Twin("obv", kernels.obv, "OBV", ("close", "volume"), ()),
    ]
}


def as_arrays(value: Any) -> list[np.ndarray[Any, np.dtype[np.float64]]]:
    """A kernel's or TA-Lib's result as float64 numpy arrays, one per output."""
    items: Sequence[Any] = value if isinstance(value, tuple | list) else [value]
    arrays = []
    for item in items:
        if isinstance(item, torch.Tensor):
            item = item.detach().to("cpu", torch.float64).numpy()
        arrays.append(np.asarray(item, dtype=np.float64))
    return arrays


def discrepancy(
    ours: np.ndarray[Any, Any],
    reference: np.ndarray[Any, Any],
    rtol: float,
    floor: float = 1e-3,
    scale: float = 0.0,
) -> str | None:
    """Why ``ours`` is not TA-Lib's ``reference`` (None when it is): NaN warm-up and values.

    Values must agree within ``rtol`` relative. Oscillators cross zero, where an element-wise relative
    error means nothing, so the tolerance never drops below ``rtol * floor`` times the larger of the
    output's largest magnitude and ``scale`` (pass the input prices' magnitude for outputs that are
    price differences, such as MACD or MOM on a flat series).
    """
    if ours.shape != reference.shape:
        return f"shape {ours.shape} != {reference.shape}"
    if not np.array_equal(np.isnan(ours), np.isnan(reference)):
        return (
            f"warm-up differs: first valid {int(np.argmax(~np.isnan(ours)))} vs "
            f"{int(np.argmax(~np.isnan(reference)))}; NaNs {int(np.isnan(ours).sum())} vs "
            f"{int(np.isnan(reference).sum())}"
        )
    valid = ~np.isnan(reference)
    if not valid.any():
        return None
    a, b = ours[valid], reference[valid]
    bound = rtol * np.maximum(np.abs(b), floor * max(float(np.max(np.abs(b))), scale))
    worse = np.abs(a - b) > bound
    if worse.any():
        i = int(np.argmax(np.abs(a - b) - bound))
        return f"{int(worse.sum())} values off, worst at valid index {i}: {a[i]!r} vs {b[i]!r}"
    return None
