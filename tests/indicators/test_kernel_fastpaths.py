"""The fast paths of the batched kernels agree with TA-Lib where their shortcuts could break.

* blocked-GEMM exponential smoothing (EMA, RSI, ATR, MACD): many blocks and block carries, seeds far
  from bar 0, smoothing factors near 1 (period 1, 2) and near 0 (period 400);
* MACD's shared fast-EMA scan (one fast period for every combo) and its per-combo fallback;
* segment-table WMA and Bollinger bands: series lengths around the segment sizes, price levels that
  jump by orders of magnitude, and constant stretches after a jump (zero width, exactly);
* Williams %R from shared sparse tables equals the batched-series path.

Golden values: TA-Lib on the same float64 arrays (an independent C implementation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import talib
import torch

from torchtrader.indicators import kernels
from torchtrader.indicators.kernels._core import empty
from torchtrader.indicators.kernels._scan import seeded_smoothing
from torchtrader.indicators.parity import as_arrays, discrepancy


def _walk(size: int, seed: int, level: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))


def _assert_rows(ours: Any, references: list[Any], label: str, scale: float) -> None:
    got = as_arrays(ours)
    for row, reference in enumerate(references):
        for i, ref in enumerate(as_arrays(reference)):
            problem = discrepancy(got[i][row], ref, rtol=1e-9, scale=scale)
            assert problem is None, f"{label} row {row} output {i}: {problem}"


PERIODS = [1, 2, 3, 14, 63, 400]


@pytest.mark.parametrize("length", [15, 31, 32, 33, 4_001])
def test_blocked_ema_matches_talib_across_blocks_and_extreme_factors(length: int) -> None:
    close = _walk(length, seed=1)
    ours = kernels.ema(torch.tensor(close), torch.tensor(PERIODS))
    _assert_rows(ours, [talib.EMA(close, p) for p in PERIODS], "ema", float(close.max()))


def test_blocked_wilder_smoothing_matches_talib_rsi_and_atr() -> None:
    close = _walk(3_000, seed=2)
    high, low = close * 1.004, close * 0.995
    periods = [p for p in PERIODS if p >= 2]
    rsi = kernels.rsi(torch.tensor(close), torch.tensor(periods))
    _assert_rows(rsi, [talib.RSI(close, p) for p in periods], "rsi", 100.0)
    atr = kernels.atr(*(torch.tensor(a) for a in (high, low, close)), torch.tensor(PERIODS))
    _assert_rows(atr, [talib.ATR(high, low, close, p) for p in PERIODS], "atr", float(close.max()))


def test_rsi_of_a_series_flat_from_the_start_is_zero_like_talib() -> None:
    close = np.concatenate([np.full(40, 50.0), _walk(60, seed=3, level=50.0)])
    ours = kernels.rsi(torch.tensor(close), torch.tensor([5, 14]))
    _assert_rows(ours, [talib.RSI(close, 5), talib.RSI(close, 14)], "rsi", 100.0)
    assert float(ours[0, 5]) == 0.0


@pytest.mark.parametrize("shared_fast", [True, False])
def test_macd_shared_fast_scan_and_per_combo_fast_match_talib(shared_fast: bool) -> None:
    close = _walk(2_500, seed=4)
    combos = [(12 if shared_fast else 5 + i, 26 + 7 * i, 9 + i) for i in range(4)]
    fast, slow, signal = (torch.tensor(list(c)) for c in zip(*combos, strict=True))
    ours = kernels.macd(torch.tensor(close), fast, slow, signal)
    references = [talib.MACD(close, f, s, g) for f, s, g in combos]
    _assert_rows(ours, references, "macd", float(close.max()))


def test_dema_and_tema_chain_the_blocked_scan_over_per_combo_inputs() -> None:
    close = _walk(1_500, seed=5)
    periods = [2, 10, 50]
    for name in ("DEMA", "TEMA"):
        ours = getattr(kernels, name.lower())(torch.tensor(close), torch.tensor(periods))
        _assert_rows(ours, [getattr(talib, name)(close, p) for p in periods], name, float(close.max()))


@pytest.mark.parametrize("length", [127, 128, 129, 511, 512, 513, 2_600])
def test_segment_tables_wma_matches_talib_around_segment_sizes(length: int) -> None:
    close = _walk(length, seed=6)
    periods = [1, 2, 30, 200]
    ours = kernels.wma(torch.tensor(close), torch.tensor(periods))
    _assert_rows(ours, [talib.WMA(close, p) for p in periods], "wma", float(close.max()))


def _jumpy() -> np.ndarray:
    """Prices that jump from ~1 to ~10,000 and then stay exactly constant for 300 bars."""
    return np.concatenate(
        [_walk(700, seed=7, level=1.0), np.full(300, 10_000.0), _walk(700, seed=8, level=9e3)]
    )


def test_segment_tables_bbands_match_talib_on_jumping_levels_with_exact_flat_bands() -> None:
    close = _jumpy()
    periods = [2, 5, 20, 150]
    upper, middle, lower = kernels.bbands(torch.tensor(close), torch.tensor(periods), 2.0, 1.5)
    for row, p in enumerate(periods):
        ref_upper, ref_middle, ref_lower = talib.BBANDS(close, p, 2.0, 1.5)
        # a constant window: TA-Lib's E[x^2] - mean^2 is round-off there, the exact width is 0
        flat = talib.MAX(close, p) == talib.MIN(close, p)
        ref_upper, ref_lower = np.where(flat, ref_middle, ref_upper), np.where(flat, ref_middle, ref_lower)
        for ours, ref in ((upper, ref_upper), (middle, ref_middle), (lower, ref_lower)):
            problem = discrepancy(ours[row].numpy(), ref, rtol=1e-9, scale=float(close.max()))
            assert problem is None, f"bbands {p}: {problem}"
        inside = slice(700 + p - 1, 1000)
        assert torch.equal(upper[row, inside], middle[row, inside])
        assert torch.equal(lower[row, inside], middle[row, inside])


def test_willr_shared_tables_equal_the_batched_series_path_and_talib() -> None:
    close = _walk(1_200, seed=9)
    high, low = close * 1.01, close * 0.98
    periods = torch.tensor([2, 3, 14, 100])
    shared = kernels.willr(*(torch.tensor(a) for a in (high, low, close)), periods)
    stacked = kernels.willr(*(torch.tensor(np.stack([a] * 4)) for a in (high, low, close)), periods)
    assert torch.equal(torch.isnan(shared), torch.isnan(stacked))
    assert torch.allclose(shared.nan_to_num(), stacked.nan_to_num(), rtol=0.0, atol=1e-12)
    _assert_rows(shared, [talib.WILLR(high, low, close, int(p)) for p in periods], "willr", 100.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_buffers_are_fresh_writable_tensors_of_the_requested_dtype(dtype: torch.dtype) -> None:
    a = empty((4, 1 << 20), dtype, torch.device("cpu"))
    b = empty((4, 1 << 20), dtype, torch.device("cpu"))
    assert a.dtype == dtype and a.shape == (4, 1 << 20) and a.is_contiguous()
    a.fill_(1.0)
    b.fill_(2.0)
    assert float(a.sum()) == 4 * (1 << 20)


def test_float32_fast_paths_keep_float32_and_track_talib() -> None:
    close = _walk(3_000, seed=10).astype(np.float32)
    x = torch.tensor(close)
    wide = close.astype(np.float64)
    for kernel, reference in (
        (kernels.ema(x, 30), talib.EMA(wide, 30)),
        (kernels.wma(x, 30), talib.WMA(wide, 30)),
        (kernels.bbands(x, 30)[0], talib.BBANDS(wide, 30)[0]),
        (kernels.rsi(x, 14), talib.RSI(wide, 14)),
    ):
        assert kernel.dtype == torch.float32
        assert discrepancy(kernel.double().numpy(), reference, rtol=1e-5, floor=1.0) is None


def test_shared_series_with_warm_up_nan_and_per_combo_starts_smooths_each_row_from_its_start() -> None:
    """The scan behind chained kernels (MACD's fast EMA starts at slow - fast): with a NaN head in a
    shared series and a different start per combo, each row is TA-Lib's EMA of its own tail."""
    close = _walk(600, seed=11)
    close[:3] = np.nan
    starts, periods = [50, 3, 10], [20, 5, 5]
    window = torch.tensor(periods)
    alpha = 2.0 / (window.to(torch.float64) + 1.0)
    ours, first = seeded_smoothing(torch.tensor(close).unsqueeze(0), window, torch.tensor(starts), alpha)
    assert first.tolist() == [s + p - 1 for s, p in zip(starts, periods, strict=True)]
    for row, (s, p) in enumerate(zip(starts, periods, strict=True)):
        reference = np.concatenate([np.full(s, np.nan), talib.EMA(close[s:], p)])
        problem = discrepancy(ours[row].numpy(), reference, rtol=1e-9, scale=float(np.nanmax(close)))
        assert problem is None, f"row {row}: {problem}"
