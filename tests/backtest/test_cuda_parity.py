"""The batched engine on CUDA equals the engine on CPU: every built-in strategy, its parameters and a
sweep over an alternative, with costs and stops, on five years of S&P 500 bars.

In float64 the two devices run the same kernels on the same numbers, so trades match exactly in time,
side and reason and to 1e-9 in size and price; float32 on CUDA stays within float32 rounding of
float32 on CPU. These tests run where a GPU is (``make bench-gpu``) and skip elsewhere.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import torch

from tests.backtest.test_parity import ALTERNATIVES, BUILTINS, assert_same_run
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest, run_sweep
from torchtrader.backtest.results import Metrics
from torchtrader.strategies import Bars, load_strategy, parse_params
from torchtrader.testing.market import sample_bars

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

STOPS = BacktestConfig(initial_cash=100_000.0, fee=0.001, slippage_bps=5, stop_loss=0.03, take_profit=0.06)


@pytest.fixture(scope="module")
def sp500() -> Bars:
    return sample_bars("SPX", date(2014, 1, 1), date(2018, 12, 31))


@pytest.mark.parametrize("name", BUILTINS)
def test_cuda_backtest_equals_cpu_backtest(name: str, sp500: Bars) -> None:
    cls = load_strategy(name)
    for overrides in ({}, ALTERNATIVES[name]):
        params = parse_params(cls, overrides)
        cpu = run_backtest(cls(), sp500, params, STOPS)
        gpu = run_backtest(cls(), sp500, params, STOPS.model_copy(update={"device": "cuda"}))
        assert cpu.trades, "a parity run without trades proves nothing"
        assert_same_run(gpu, cpu)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", BUILTINS)
def test_cuda_sweep_equals_cpu_sweep(name: str, dtype: str, sp500: Bars) -> None:
    cls = load_strategy(name)
    grid = [parse_params(cls, {}), parse_params(cls, ALTERNATIVES[name])]
    config = STOPS.model_copy(update={"dtype": dtype})
    cpu = run_sweep(cls(), sp500, grid, config, top_k=len(grid))
    gpu = run_sweep(cls(), sp500, grid, config.model_copy(update={"device": "cuda"}), top_k=len(grid))
    tolerance = 1e-9 if dtype == "float64" else 1e-4
    for metric in Metrics.names():
        np.testing.assert_allclose(
            gpu.metrics[metric].to_numpy(), cpu.metrics[metric].to_numpy(), rtol=tolerance, atol=1e-9,
            err_msg=metric,
        )  # fmt: skip
    if dtype == "float64":
        for on_gpu, on_cpu in zip(gpu.top, cpu.top, strict=True):
            assert on_gpu.params == on_cpu.params
            assert_same_run(on_gpu, on_cpu)
