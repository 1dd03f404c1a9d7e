"""Sweep speed-ups change nothing: memo, combo ordering and chunking give the per-combo results."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest, run_sweep, sweep_order
from torchtrader.backtest.results import Metrics
from torchtrader.strategies import Bars
from torchtrader.strategies.base import ParamBatch
from torchtrader.strategies.sma_cross import SmaCross

CONFIG = BacktestConfig(fee=0.001, slippage_bps=5)


def random_bars(n: int = 600, seed: int = 5) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    ts = (np.arange(n, dtype=np.int64) + 18_262) * 86_400 * 10**9
    o, h, lo, c, v = (torch.tensor(x) for x in (open_, high, low, close, np.ones(n)))
    return Bars(open=o, high=h, low=lo, close=c, volume=v, ts=ts, symbol="RND", timeframe="1d")


def shuffled_grid() -> list[SmaCross.Params]:
    grid = [SmaCross.Params(fast=f, slow=s) for f in (3, 5, 8, 13) for s in (21, 34, 55)]
    random.Random(7).shuffle(grid)
    return grid


def test_a_chunked_memoised_sweep_equals_one_backtest_per_combo_in_the_callers_order() -> None:
    bars, grid = random_bars(), shuffled_grid()
    sweep = run_sweep(SmaCross(), bars, grid, CONFIG, chunk_size=5, top_k=2)
    assert len(bars.indicator_memo) == 7  # 4 fast + 3 slow periods, each computed once for all chunks
    for row, params in enumerate(grid):
        swept = sweep.metrics.row(row, named=True)
        assert (swept["fast"], swept["slow"]) == (params.fast, params.slow)
        single = run_backtest(SmaCross(), random_bars(), params, CONFIG)
        for name, value in single.metrics.to_dict().items():
            assert swept[name] == pytest.approx(value, rel=1e-12, nan_ok=True), name


def test_memo_reuse_and_chunk_size_do_not_change_a_sweep() -> None:
    bars, grid = random_bars(), shuffled_grid()
    whole = run_sweep(SmaCross(), random_bars(), grid, CONFIG, chunk_size=len(grid))
    first = run_sweep(SmaCross(), bars, grid, CONFIG, chunk_size=1)
    again = run_sweep(SmaCross(), bars, grid, CONFIG, chunk_size=4)  # warm memo
    assert bars.indicator_memo.hits > 0
    for name in Metrics.names():
        expected = whole.metrics[name].to_numpy()
        np.testing.assert_array_equal(first.metrics[name].to_numpy(), expected)
        np.testing.assert_array_equal(again.metrics[name].to_numpy(), expected)


def test_positions_on_a_prefix_ignore_the_memo_of_the_full_series() -> None:
    bars = random_bars()
    batch = ParamBatch.from_params([SmaCross.Params(fast=5, slow=21), SmaCross.Params(fast=8, slow=34)])
    SmaCross().positions(bars, batch)  # fills the full series' memo
    prefix = bars.slice(300)
    got = SmaCross().positions(prefix, batch)
    fresh = SmaCross().positions(random_bars().slice(300), batch)
    assert torch.equal(got, fresh)
    assert len(prefix.indicator_memo) == 4 and prefix.indicator_memo.hits == 0


def test_sweep_order_is_a_serpentine_permutation() -> None:
    grid = [SmaCross.Params(fast=f, slow=s) for f in (9, 3, 5) for s in (40, 20, 30)]
    order = sweep_order(grid)
    assert sorted(order) == list(range(len(grid)))
    walked = [(grid[i].fast, grid[i].slow) for i in order]
    assert walked == [(3, 20), (3, 30), (3, 40), (5, 40), (5, 30), (5, 20), (9, 20), (9, 30), (9, 40)]
    assert sweep_order(grid[:1]) == [0]
