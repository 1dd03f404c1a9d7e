"""Choosing the kernel implementation, and recycling of large CPU result buffers.

* ``backend(...)`` switches between the compiled CPU loops and the torch path, nests, and rejects
  bad names and the compiled path on non-CPU tensors with one-line errors;
* both implementations agree with TA-Lib where the compiled loops have their own edge cases:
  running sums restarting every 4096 bars, level jumps, and row counts that are not a multiple of
  the four interleaved lanes;
* a freed result's block is reused by the next call of a similar size, never while a view of it
  is alive, and ``release()`` hands idle blocks back.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import talib
import torch

from torchtrader.errors import ConfigError
from torchtrader.indicators import kernels
from torchtrader.indicators.kernels import _backend, _hostcache
from torchtrader.indicators.parity import TWINS, as_arrays, discrepancy


def _walk(size: int, seed: int, level: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))


def test_backend_blocks_nest_and_restore() -> None:
    assert _backend.current() == "auto"
    with kernels.backend("torch"):
        assert _backend.current() == "torch"
        with kernels.backend("compiled"):
            assert _backend.current() == "compiled"
        assert _backend.current() == "torch"
    assert _backend.current() == "auto"


def test_bad_backend_names_and_devices_are_one_line_config_errors() -> None:
    expected = "kernel backend must be one of auto, torch, compiled"
    with pytest.raises(ConfigError, match=expected) as bad, kernels.backend("numba"):  # type: ignore[arg-type]
        pass
    assert "\n" not in str(bad.value)
    meta = torch.empty(10, device="meta")
    with kernels.backend("compiled"), pytest.raises(ConfigError, match="runs on CPU tensors only"):
        _backend.compiled(meta)
    with kernels.backend("auto"):
        assert not _backend.compiled(meta)
        assert _backend.compiled(torch.empty(3))


def test_backend_env_variable_sets_the_default_and_rejects_nonsense() -> None:
    script = "from torchtrader.indicators.kernels import _backend; print(_backend.current())"
    env = {**os.environ, "TORCHTRADER_KERNEL_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "torch"
    env["TORCHTRADER_KERNEL_BACKEND"] = "fast"
    failed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "TORCHTRADER_KERNEL_BACKEND must be one of auto, torch, compiled, got 'fast'" in failed.stderr


# 9,000 bars: two restarts of the running sums; a jump of the level by 1000x at bar 5,000
_LONG = np.concatenate([_walk(5_000, seed=3, level=10.0), _walk(4_000, seed=4, level=10_000.0)])
_ODD_ROWS = [2, 3, 5, 9, 30, 101, 257]  # seven rows: one full group of four, one short group


@pytest.mark.parametrize("name", ["compiled", "torch"])
@pytest.mark.parametrize(
    ("kernel", "reference"),
    [
        (kernels.sma, talib.SMA),
        (kernels.ema, talib.EMA),
        (kernels.wma, talib.WMA),
        (kernels.dema, talib.DEMA),
        (kernels.mom, talib.MOM),
        (kernels.rolling_max, talib.MAX),
    ],
    ids=["sma", "ema", "wma", "dema", "mom", "max"],
)
def test_long_jumping_series_and_odd_row_counts_match_talib(name: str, kernel: Any, reference: Any) -> None:
    with kernels.backend(name):  # type: ignore[arg-type]
        ours = kernel(torch.tensor(_LONG), torch.tensor(_ODD_ROWS))
    got = as_arrays(ours)[0]
    for row, period in enumerate(_ODD_ROWS):
        problem = discrepancy(got[row], reference(_LONG, period), rtol=1e-9, scale=float(_LONG.max()))
        assert problem is None, f"{name} period {period}: {problem}"


@pytest.mark.parametrize("name", ["compiled", "torch"])
def test_long_jumping_series_rsi_bbands_and_macd_match_talib(name: str) -> None:
    close = torch.tensor(_LONG)
    periods = _ODD_ROWS
    with kernels.backend(name):  # type: ignore[arg-type]
        rsi = as_arrays(kernels.rsi(close, torch.tensor(periods)))[0]
        bands = as_arrays(kernels.bbands(close, torch.tensor(_ODD_ROWS), 2.0, 1.0))
        macd = as_arrays(kernels.macd(close, 12, torch.tensor([p + 13 for p in _ODD_ROWS]), 9))
    scale = float(_LONG.max())
    for row, period in enumerate(periods):
        assert discrepancy(rsi[row], talib.RSI(_LONG, period), rtol=1e-9) is None, f"rsi {period}"
    for row, period in enumerate(_ODD_ROWS):
        for ours, ref in zip(bands, talib.BBANDS(_LONG, period, 2.0, 1.0), strict=True):
            assert discrepancy(ours[row], ref, rtol=1e-9, scale=scale) is None, f"bbands {period}"
        for ours, ref in zip(macd, talib.MACD(_LONG, 12, period + 13, 9), strict=True):
            assert discrepancy(ours[row], ref, rtol=1e-9, scale=scale) is None, f"macd {period}"


def test_float32_inputs_take_the_compiled_path_and_stay_float32() -> None:
    close = _walk(3_000, seed=5)
    with kernels.backend("compiled"):
        ours = kernels.ema(torch.tensor(close, dtype=torch.float32), torch.tensor([5, 50]))
    assert ours.dtype == torch.float32
    for row, period in enumerate([5, 50]):
        reference = talib.EMA(close.astype(np.float32).astype(np.float64), period)
        assert discrepancy(ours[row].double().numpy(), reference, rtol=1e-6) is None


def test_a_freed_result_block_is_reused_and_a_live_view_keeps_it_out_of_the_pool() -> None:
    cache = _hostcache.HostCache(limit=1 << 30)
    first = cache.take((4, 1 << 18), np.dtype(np.float64))  # 8 MiB
    address = first.__array_interface__["data"][0]
    row = torch.from_numpy(first)[2]
    del first
    gc.collect()
    assert cache.idle_bytes == 0  # the tensor view still holds the block
    del row
    gc.collect()
    assert cache.idle_bytes == 8 << 20
    again = cache.take((2, 1 << 18), np.dtype(np.float32))  # 2 MiB: too small to take 8 MiB
    assert again.__array_interface__["data"][0] != address
    similar = cache.take((5, 1 << 17), np.dtype(np.float64))  # 5 MiB
    assert similar.__array_interface__["data"][0] == address
    assert cache.idle_bytes == 0
    del similar, again
    gc.collect()
    assert cache.release() == (8 << 20) + (2 << 20)
    assert cache.idle_bytes == 0


def test_the_pool_keeps_at_most_its_limit_and_a_zero_limit_disables_it() -> None:
    cache = _hostcache.HostCache(limit=10 << 20)
    blocks = [cache.take((1 << 20,), np.dtype(np.float64)) for _ in range(3)]  # 3 x 8 MiB
    del blocks
    gc.collect()
    assert cache.idle_bytes == 8 << 20  # one fits under 10 MiB
    off = _hostcache.HostCache(limit=0)
    block = off.take((1 << 20,), np.dtype(np.float64))
    del block
    gc.collect()
    assert off.idle_bytes == 0


def test_kernel_results_reuse_the_block_of_a_freed_result() -> None:
    close = torch.tensor(_walk(200_000, seed=6))
    windows = torch.arange(5, 15)
    first = kernels.sma(close, windows)
    address = first.data_ptr()
    expected = first[3].clone()
    del first
    gc.collect()
    second = kernels.ema(close, windows)
    third = kernels.sma(close, windows)  # the pool is empty again: a fresh block
    assert second.data_ptr() == address
    assert third.data_ptr() != address
    np.testing.assert_array_equal(third[3].numpy(), expected.numpy())  # NaN warm-up included


def test_bad_cache_limit_is_a_one_line_config_error() -> None:
    script = "import torchtrader.indicators.kernels"
    env = {**os.environ, "TORCHTRADER_KERNEL_CACHE_MB": "lots"}
    failed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "TORCHTRADER_KERNEL_CACHE_MB must be an integer (MiB), got 'lots'" in failed.stderr


@pytest.mark.parametrize("name", ["compiled", "torch"])
@pytest.mark.parametrize(
    "kernel",
    [kernels.sma, kernels.ema, kernels.wma, kernels.rsi, kernels.mom, kernels.rolling_max],
    ids=["sma", "ema", "wma", "rsi", "mom", "max"],
)
def test_a_rows_values_do_not_depend_on_the_batch_or_on_later_bars(name: str, kernel: Any) -> None:
    """A window computed alone, in a batch with others (another lane group, a later first bar of
    its group) and on a prefix of the series cut between two restarts of the sums: bit for bit on
    the compiled loops; within 1e-10 on the torch path (its scans and tables depend on the batch)."""
    close = torch.tensor(_LONG)
    with kernels.backend(name):  # type: ignore[arg-type]
        batch = kernel(close, torch.tensor([3, 30, 2_000, 9]))
        alone = kernel(close, 9)
        prefix = kernel(close[:8_500], torch.tensor([2_500, 9]))
    for ours, reference in ((batch[3], alone), (prefix[1], alone[:8_500])):
        if name == "compiled":
            np.testing.assert_array_equal(ours.numpy(), reference.numpy())
        else:
            assert discrepancy(ours.numpy(), reference.numpy(), rtol=1e-10) is None


@pytest.mark.parametrize("name", ["compiled", "torch"])
@pytest.mark.parametrize("kernel_name", ["adx", "cci", "mfi", "willr", "natr", "stoch", "dema", "macd"])
def test_per_combo_series_give_the_shared_series_results(name: str, kernel_name: str) -> None:
    """The loops read one shared series for every combo, or each combo's own row: the same prices
    either way give the same values (each combo's own row is the path of chained kernels)."""
    twin = TWINS[kernel_name]
    rng = np.random.default_rng(11)
    close = _walk(600, seed=12)
    data = {
        "close": close,
        "high": close * (1 + rng.uniform(0, 0.01, 600)),
        "low": close * (1 - rng.uniform(0, 0.01, 600)),
        "volume": rng.uniform(1e3, 1e5, 600),
    }
    periods = [2, 5, 14, 40, 90]
    first = twin.periods[0]
    params = {first: torch.tensor([p + 13 for p in periods] if kernel_name == "macd" else periods)}
    shared = [torch.tensor(data[i]) for i in twin.inputs]
    stacked = [torch.tensor(np.tile(data[i], (len(periods), 1))) for i in twin.inputs]
    with kernels.backend(name):  # type: ignore[arg-type]
        one = as_arrays(twin.kernel(*shared, **params))
        many = as_arrays(twin.kernel(*stacked, **params))
    for a, b in zip(one, many, strict=True):
        for row in range(len(periods)):
            # scale: MACD is a difference of prices, compared relative to the price level near 0
            problem = discrepancy(b[row], a[row], rtol=1e-12, scale=float(close.max()))
            assert problem is None, f"{kernel_name} row {row}: {problem}"
