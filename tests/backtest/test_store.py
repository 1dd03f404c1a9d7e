"""Backtest results round-trip through the lake tables backtest_runs, trades and equity."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.backtest.backtrader_engine import run_backtrader
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import BacktestResult, Metrics
from torchtrader.backtest.store import list_runs, load_result, save_result
from torchtrader.errors import LakeError
from torchtrader.lake import Lake
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams


class Alternate(Strategy):
    """Long, flat, short, ... in blocks of ``block`` bars: trades of both sides on any series."""

    name: ClassVar[str] = "alternate"

    class Params(StrategyParams):
        block: int = 3

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        phase = (torch.arange(len(bars)) // int(p.block[0])) % 3
        return (1.0 - phase.to(bars.dtype)).reshape(1, -1)


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 40)))
    open_ = close * (1 + rng.normal(0, 0.002, 40))
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    ts = (np.arange(40, dtype=np.int64) + 18_000) * 86_400 * 1_000_000_000
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    bars = Bars(t(open_), t(high), t(low), t(close), t(np.ones(40)), ts, "SYN", "1d")
    config = BacktestConfig(fee=0.001, slippage_bps=3, stop_loss=0.05)
    return run_backtrader(Alternate(), bars, {"block": 4}, config, lake_version=3)


def test_save_then_load_gives_the_same_result(lake_uri: str, result: BacktestResult) -> None:
    lake = Lake(lake_uri)
    run_id = save_result(lake, result)
    loaded = load_result(lake, run_id)
    assert loaded.trades == result.trades
    assert loaded.equity.equals(result.equity)
    assert loaded.config == result.config
    assert (loaded.strategy, loaded.params, loaded.symbol, loaded.timeframe) == (
        "alternate",
        {"block": 4},
        "SYN",
        "1d",
    )
    assert (loaded.lake_version, loaded.code_version, loaded.engine) == (3, result.code_version, "backtrader")
    assert loaded.final_equity == result.final_equity
    for name in Metrics.names():
        a, b = getattr(loaded.metrics, name), getattr(result.metrics, name)
        assert (math.isnan(a) and math.isnan(b)) or a == b, name


def test_runs_table_has_one_row_with_metrics_and_json(lake_uri: str, result: BacktestResult) -> None:
    lake = Lake(lake_uri)
    first, second = save_result(lake, result), save_result(lake, result)
    assert first != second
    runs = list_runs(lake)
    assert runs.height == 2
    row = runs.filter(runs["run_id"] == first).row(0, named=True)
    assert json.loads(row["params"]) == {"block": 4}
    assert BacktestConfig.model_validate_json(row["config"]) == result.config
    assert row["n_trades"] == len(result.trades) > 0
    assert row["sharpe"] == pytest.approx(result.metrics.sharpe)
    assert lake.read_table("trades").filter(lake.read_table("trades")["run_id"] == first).height == len(
        result.trades
    )
    assert lake.read_table("equity").height == 2 * result.equity.height


def test_saving_the_same_run_id_twice_adds_nothing(lake_uri: str, result: BacktestResult) -> None:
    lake = Lake(lake_uri)
    assert save_result(lake, result, run_id="fixed-id") == "fixed-id"
    versions = {name: lake.version(name) for name in ("backtest_runs", "trades", "equity")}
    assert save_result(lake, result, run_id="fixed-id") == "fixed-id"
    assert {name: lake.version(name) for name in versions} == versions


def test_unknown_run_is_a_lake_error(lake_uri: str, result: BacktestResult) -> None:
    lake = Lake(lake_uri)
    with pytest.raises(LakeError, match="no backtest run 'missing'"):
        load_result(lake, "missing")
    save_result(lake, result)
    with pytest.raises(LakeError, match="no backtest run 'missing'"):
        load_result(lake, "missing")
    assert list_runs(Lake(lake_uri + "-empty")).is_empty()
