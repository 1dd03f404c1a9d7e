"""Batched engine: batches, chunks, reruns and dtypes agree; the CLI JSON contract; bad input fails."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
import torch
from torch import Tensor

from torchtrader.backtest import engine_dense
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest, run_sweep, simulate
from torchtrader.backtest.metrics import equity_metrics
from torchtrader.backtest.results import Metrics
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams

COSTS = BacktestConfig(fee=0.001, slippage_bps=5)
STOPS = BacktestConfig(fee=0.001, slippage_bps=5, stop_loss=0.02, take_profit=0.04)


class Momentum(Strategy):
    """Long when the close is above the close ``lookback`` bars ago; short (or flat) otherwise."""

    name: ClassVar[str] = "momentum"

    class Params(StrategyParams):
        lookback: int = 5
        allow_short: bool = True

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        n = len(bars)
        ago = torch.arange(n).unsqueeze(0) - p.lookback.unsqueeze(1)
        prior = bars.close[ago.clamp(min=0)]
        down = torch.where(p.allow_short.unsqueeze(1), -1.0, 0.0).to(bars.dtype)
        pos = torch.where(bars.close > prior, torch.ones_like(prior), down)
        return torch.where(ago >= 0, pos, torch.zeros_like(pos))


def random_bars(n: int = 400, seed: int = 11) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
    ts = (np.arange(n, dtype=np.int64) + 18_262) * 86_400 * 10**9  # daily from 2020-01-01
    cols = [torch.tensor(c) for c in (open_, high, low, close, np.ones(n))]
    return Bars(*cols, ts=ts, symbol="RND", timeframe="1d")


GRID = [Momentum.Params(lookback=k, allow_short=s) for k in range(1, 13) for s in (True, False)]


@pytest.mark.parametrize("config", [COSTS, STOPS], ids=["costs", "stops"])
def test_a_sweep_equals_one_backtest_per_combo(config: BacktestConfig) -> None:
    bars = random_bars()
    sweep = run_sweep(Momentum(), bars, GRID, config, top_k=3)
    assert sweep.n_combos == len(GRID) == sweep.metrics.height
    for row, params in enumerate(GRID):
        single = run_backtest(Momentum(), bars, params, config)
        swept = sweep.metrics.row(row, named=True)
        assert (swept["lookback"], swept["allow_short"]) == (params.lookback, params.allow_short)
        for name, value in single.metrics.to_dict().items():
            assert swept[name] == pytest.approx(value, rel=1e-12, nan_ok=True), name


def test_top_results_are_the_best_ranked_and_fully_detailed() -> None:
    bars = random_bars()
    sweep = run_sweep(Momentum(), bars, GRID, STOPS, rank_by="sharpe", top_k=4)
    sharpes = [r.metrics.sharpe for r in sweep.top]
    assert len(sweep.top) == 4
    assert sharpes == sorted(sharpes, reverse=True)
    assert sharpes[0] == pytest.approx(sweep.metrics["sharpe"].max(), rel=1e-12)
    best = run_backtest(Momentum(), bars, Momentum.Params(**sweep.top[0].params), STOPS)
    assert best.trades == sweep.top[0].trades
    assert best.final_equity == sweep.top[0].final_equity
    assert {t.exit_reason for t in best.trades} >= {"stop_loss", "take_profit", "signal"}


def test_ranking_by_drawdown_puts_the_smallest_first() -> None:
    sweep = run_sweep(Momentum(), random_bars(), GRID, COSTS, rank_by="max_drawdown", top_k=2)
    assert sweep.top[0].metrics.max_drawdown == pytest.approx(sweep.metrics["max_drawdown"].min(), rel=1e-12)
    document = json.loads(json.dumps(sweep.to_json(top=5), allow_nan=False))
    assert document["n_combos"] == len(GRID)
    assert document["strategy"] == "momentum"
    assert len(document["top"]) == 5
    assert set(document["top"][0]["params"]) == {"lookback", "allow_short"}
    assert [row["metrics"]["max_drawdown"] for row in document["top"]] == sorted(
        row["metrics"]["max_drawdown"] for row in document["top"]
    )


def test_chunked_equals_unchunked() -> None:
    bars = random_bars()
    whole = run_sweep(Momentum(), bars, GRID, STOPS, chunk_size=len(GRID))
    chunked = run_sweep(Momentum(), bars, GRID, STOPS, chunk_size=5)
    for name in Metrics.names():
        np.testing.assert_allclose(
            chunked.metrics[name].to_numpy(), whole.metrics[name].to_numpy(), rtol=1e-12
        )
    assert [r.params for r in chunked.top] == [r.params for r in whole.top]


def test_a_rerun_gives_identical_results() -> None:
    bars = random_bars()
    first = run_backtest(Momentum(), bars, Momentum.Params(lookback=3), STOPS)
    second = run_backtest(Momentum(), bars, Momentum.Params(lookback=3), STOPS)
    assert first.to_json(include_equity=True) == second.to_json(include_equity=True)
    sweep_a = run_sweep(Momentum(), bars, GRID, STOPS)
    sweep_b = run_sweep(Momentum(), bars, GRID, STOPS)
    assert sweep_a.metrics.equals(sweep_b.metrics)


def test_float32_is_close_to_float64() -> None:
    bars = random_bars()
    params = Momentum.Params(lookback=4)
    exact = run_backtest(Momentum(), bars, params, COSTS)
    single = run_backtest(Momentum(), bars, params, COSTS.model_copy(update={"dtype": "float32"}))
    assert [(t.entry_time, t.exit_time, t.side) for t in single.trades] == [
        (t.entry_time, t.exit_time, t.side) for t in exact.trades
    ]
    assert single.final_equity == pytest.approx(exact.final_equity, rel=1e-4)
    assert single.metrics.sharpe == pytest.approx(exact.metrics.sharpe, rel=1e-3)


def test_json_follows_the_cli_contract() -> None:
    result = run_backtest(Momentum(), random_bars(), Momentum.Params(lookback=3), COSTS, lake_version=7)
    document = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert {"metrics", "trades", "final_equity", "lake_version", "strategy", "params"} <= document.keys()
    assert set(Metrics.names()) <= document["metrics"].keys()
    assert document["lake_version"] == 7
    assert document["strategy"] == "momentum"
    assert document["params"] == {"lookback": 3, "allow_short": True}
    trade = document["trades"][0]
    assert {"entry_time", "exit_time", "side", "size", "entry_price", "exit_price", "pnl"} <= trade.keys()
    assert trade["entry_time"].endswith("+00:00")
    assert trade["entry_time"].startswith("2020-01-")
    assert document["final_equity"] == pytest.approx(result.final_equity)
    assert result.code_version.startswith("0.")


def test_undefined_metrics_are_null_in_json() -> None:
    flat = run_backtest(Momentum(), random_bars(), Momentum.Params(lookback=399), COSTS)  # never trades
    document = flat.to_json()
    assert document["trades"] == []
    assert document["metrics"]["sharpe"] is None
    assert document["metrics"]["n_trades"] == 0
    assert math.isnan(flat.metrics.sharpe)


def test_trades_frame_has_one_typed_row_per_trade() -> None:
    result = run_backtest(Momentum(), random_bars(), Momentum.Params(lookback=3), STOPS)
    frame = result.trades_frame()
    assert frame.height == len(result.trades) > 0
    assert frame.schema["entry_time"] == pl.Datetime("us", "UTC")
    assert frame["pnl"].sum() == pytest.approx(result.final_equity - STOPS.initial_cash, rel=1e-9)


def test_simulate_can_drop_the_equity_curve() -> None:
    bars = random_bars(50)
    positions = torch.ones((3, 50), dtype=torch.float64)
    out = simulate(positions, bars, COSTS, keep_equity=False)
    assert out.equity is None
    assert out.final_equity.shape == (3,)
    assert out.metrics["n_trades"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("positions", "message"),
    [
        (torch.full((1, 50), 1.5, dtype=torch.float64), "within \\[-1, 1\\]"),
        (torch.full((1, 50), math.nan, dtype=torch.float64), "finite"),
        (torch.zeros((1, 49), dtype=torch.float64), "shape"),
    ],
)
def test_simulate_refuses_bad_positions(positions: Tensor, message: str) -> None:
    with pytest.raises(BacktestError, match=message):
        simulate(positions, random_bars(50))


def test_a_single_bar_is_refused() -> None:
    with pytest.raises(BacktestError, match="at least 2 bars"):
        run_backtest(Momentum(), random_bars(1), Momentum.Params())


def test_sweep_arguments_are_checked() -> None:
    bars = random_bars(50)
    with pytest.raises(BacktestError, match="unknown ranking metric 'sharp'"):
        run_sweep(Momentum(), bars, GRID, rank_by="sharp")
    with pytest.raises(BacktestError, match="no parameter combinations"):
        run_sweep(Momentum(), bars, [])
    with pytest.raises(BacktestError, match="chunk_size"):
        run_sweep(Momentum(), bars, GRID, chunk_size=0)


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BacktestError, match="no CUDA device"):
        run_backtest(Momentum(), random_bars(50), Momentum.Params(), BacktestConfig(device="cuda"))


def test_blocked_curve_and_metrics_equal_the_unblocked_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = random_bars(1_500)
    batch = ParamBatch.from_params(GRID[:6])
    positions = Momentum().positions(bars, batch)
    whole = simulate(positions, bars, STOPS)  # one block: 1 500 bars < BLOCK_ELEMENTS / 6
    monkeypatch.setattr(engine_dense, "BLOCK_ELEMENTS", 1)  # 256-bar blocks: carries cross 5 seams
    blocked = simulate(positions, bars, STOPS)
    assert whole.equity is not None and blocked.equity is not None
    assert torch.equal(blocked.equity, whole.equity)
    reference = equity_metrics(whole.equity, 252.0)
    for name, values in reference.items():
        np.testing.assert_allclose(blocked.metrics[name].numpy(), values.numpy(), rtol=1e-11, err_msg=name)
        np.testing.assert_allclose(whole.metrics[name].numpy(), values.numpy(), rtol=1e-11, err_msg=name)
