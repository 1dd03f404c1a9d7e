"""Overfitting statistics of real sweeps: the best's deflated Sharpe and PBO over the combos' returns."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from torchtrader.backtest import runner
from torchtrader.backtest.config import BacktestConfig
from torchtrader.lake import Lake
from torchtrader.optimize.sweep_stats import combo_returns, pbo_of_combos, sweep_deflated_sharpe, sweep_pbo
from torchtrader.strategies import load_strategy, parse_params
from torchtrader.testing.market import sample_bars, sample_frame

GRID = {"fast": [5, 10, 20], "slow": [30, 50, 100]}
EULER_GAMMA = 0.5772156649015329


@pytest.fixture(scope="module")
def spx_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("sweepstats") / "lake")
    Lake(uri).upsert_bars(sample_frame("SPX", date(2012, 1, 1), date(2018, 12, 31)))
    return uri


def test_sweep_deflated_sharpe_equals_a_hand_computation(spx_lake: str) -> None:
    config = BacktestConfig(fee=0.001)
    result = runner.sweep(Lake(spx_lake), runner.SeriesRef("SPX"), "sma_cross", GRID, config)
    got = sweep_deflated_sharpe(result)
    assert got is not None
    equity = result.top[0].equity["equity"].to_numpy()
    r = equity[1:] / equity[:-1] - 1
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    per_bar = result.metrics["sharpe"].to_numpy() / math.sqrt(252)
    n = per_bar.shape[0]
    sr0 = np.std(per_bar, ddof=1) * (
        (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n) + EULER_GAMMA * stats.norm.ppf(1 - 1 / (n * math.e))
    )
    dsr = stats.norm.cdf((sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert got.n_trials == n == 9
    assert got.sharpe == pytest.approx(result.top[0].metrics.sharpe, rel=1e-12)
    assert got.dsr == pytest.approx(dsr, rel=1e-9)


def test_combo_returns_equal_single_backtests() -> None:
    cls = load_strategy("sma_cross")
    bars = sample_bars("SPX", date(2015, 1, 1), date(2016, 12, 31))
    params = [parse_params(cls, {"fast": f, "slow": s}) for f, s in [(5, 30), (20, 50), (10, 30)]]
    config = BacktestConfig(fee=0.002, slippage_bps=3)
    from torchtrader.backtest.engine import run_backtest

    got = combo_returns(cls(), bars, params, config, trade_from=120)
    for column, p in enumerate(params):
        equity = run_backtest(cls(), bars, p, config, trade_from=120).equity["equity"].to_numpy()
        np.testing.assert_allclose(got[:, column], equity[1:] / equity[:-1] - 1, rtol=0, atol=1e-15)


def test_pbo_memory_cap_takes_a_seeded_sample() -> None:
    cls = load_strategy("sma_cross")
    bars = sample_bars("SPX", date(2016, 1, 1), date(2018, 12, 31))
    params = runner.grid_params(cls, {"fast": [5, 10, 15, 20], "slow": [30, 40, 60, 80]})
    cap = 8 * (len(bars) - 1) * 5  # room for 5 combos
    first = pbo_of_combos(cls(), bars, params, BacktestConfig(), max_bytes=cap, seed=3)
    again = pbo_of_combos(cls(), bars, params, BacktestConfig(), max_bytes=cap, seed=3)
    assert first.n_strategies == 5
    assert first == again


def test_sweep_pbo_reads_the_sweeps_range(spx_lake: str) -> None:
    start, end = datetime(2016, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC)
    lake, series = Lake(spx_lake), runner.SeriesRef("SPX")
    result = runner.sweep(lake, series, "sma_cross", GRID, start=start, end=end)
    got = sweep_pbo(lake, series, "sma_cross", result)
    traded = len(result.top[0].equity)
    assert got.n_strategies == 9
    assert got.n_observations == (traded - 1) // 16 * 16
    assert 0.0 <= got.pbo <= 1.0


def test_sweep_cli_reports_dsr_and_pbo(run_cli: Callable[..., Any], spx_lake: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    run = run_cli(
        spx_lake, "sweep", "--symbol", "SPX", "--strategy", "sma_cross",
        "--grid", "fast=5,10,20", "--grid", "slow=30,50,100", "--pbo", "--json", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert 0.0 <= doc["deflated_sharpe"]["dsr"] <= 1.0
    assert doc["deflated_sharpe"]["n_trials"] == 9
    assert 0.0 <= doc["pbo"]["pbo"] <= 1.0
    assert doc["pbo"]["n_strategies"] == 9 and doc["pbo"]["n_combinations"] == 12870


def test_sweep_cli_without_pbo_has_no_pbo(run_cli: Callable[..., Any], spx_lake: str) -> None:
    run = run_cli(
        spx_lake, "sweep", "--symbol", "SPX", "--strategy", "sma_cross", "--grid", "fast=5,10",
        "--grid", "slow=30", "--json", "-",
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = run.json()
    assert "pbo" not in doc and doc["deflated_sharpe"]["n_trials"] == 2
