"""`torchtrader backtest` and `torchtrader sweep` on a temp lake holding real S&P 500 bars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from torchtrader.backtest.backtrader_engine import run_backtrader
from torchtrader.backtest.config import BacktestConfig
from torchtrader.lake import Lake
from torchtrader.strategies import Bars, load_strategy, parse_params
from torchtrader.testing.market import sample_frame

SPX_2016_2018 = ("SPX", date(2016, 1, 1), date(2018, 12, 31))


@pytest.fixture(scope="module")
def filled_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("cli") / "lake")
    Lake(uri).upsert_bars(sample_frame(*SPX_2016_2018))
    return uri


@pytest.fixture
def cli(run_cli: Callable[..., Any], filled_lake: str) -> Any:
    def run(*args: str, lake: str = filled_lake) -> Any:
        return run_cli(lake, *args)

    return run


def test_backtest_json_follows_the_contract(cli: Any, filled_lake: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = cli(
        "backtest", "--symbol", "SPX", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20",
        "--fee", "0.001", "--slippage-bps", "5", "--json", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "n_trades"} <= set(doc["metrics"])
    assert doc["strategy"] == "sma_cross"
    assert doc["params"] == {"fast": 5, "slow": 20}
    assert doc["lake_version"] == Lake(filled_lake).version("bars")
    assert doc["metrics"]["n_trades"] == len(doc["trades"]) > 0
    trade = doc["trades"][0]
    assert {"entry_time", "exit_time", "side", "size", "entry_price", "exit_price", "pnl"} <= set(trade)
    assert datetime.fromisoformat(trade["entry_time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert trade["entry_time"].endswith("+00:00")
    # the oracle, run directly on the same bars, agrees with what the CLI reported
    cls = load_strategy("sma_cross")
    config = BacktestConfig(fee=0.001, slippage_bps=5)
    oracle = run_backtrader(
        cls(), Bars.from_frame(sample_frame(*SPX_2016_2018)), parse_params(cls, ["fast=5", "slow=20"]), config
    )
    assert doc["final_equity"] == pytest.approx(oracle.final_equity, rel=1e-6)
    assert len(doc["trades"]) == len(oracle.trades)


def test_backtrader_engine_json_to_stdout_and_tearsheet(cli: Any, tmp_path: Path) -> None:
    html = tmp_path / "sheet.html"
    run = cli(
        "backtest", "-s", "SPX", "--strategy", "rsi_reversion", "--engine", "backtrader",
        "--json", "-", "--html", str(html),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["engine"] == "backtrader"
    assert html.exists() and 'id="tearsheet-equity"' in html.read_text()


def test_summary_table_without_json(cli: Any) -> None:
    run = cli("backtest", "--symbol", "SPX", "--strategy", "ema_cross")
    assert run.code == 0, run.err
    assert "ema_cross on SPX 1d" in run.out
    assert "sharpe" in run.out and "final_equity" in run.out


def test_save_persists_the_run(cli: Any, filled_lake: str) -> None:
    from torchtrader.backtest.store import list_runs

    run = cli("backtest", "--symbol", "SPX", "--strategy", "sma_cross", "--save", "--json", "-")
    assert run.code == 0, run.err
    run_id = run.err.split("saved run ")[1].split()[0]
    assert run_id in list_runs(Lake(filled_lake))["run_id"].to_list()


def test_sweep_grid_is_the_inclusive_cartesian_product(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    run = cli(
        "sweep", "--symbol", "SPX", "--strategy", "sma_cross", "--grid", "fast=5:20:5",
        "--grid", "slow=30:60:10", "--fee", "0.001", "--top", "3", "--json", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert doc["n_combos"] == 4 * 4  # fast 5,10,15,20 × slow 30,40,50,60
    assert len(doc["top"]) == 3
    sharpes = [row["metrics"]["sharpe"] for row in doc["top"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert {(row["params"]["fast"], row["params"]["slow"]) for row in doc["top"]} <= {
        (f, s) for f in (5, 10, 15, 20) for s in (30, 40, 50, 60)
    }


def test_sweep_summary_table(cli: Any) -> None:
    run = cli("sweep", "-s", "SPX", "--strategy", "donchian_breakout", "--grid", "entry=10,20", "--top", "2")
    assert run.code == 0, run.err
    assert "best 2 of 2 combos by sharpe" in run.out


BT = ["backtest", "--symbol", "SPX", "--strategy", "sma_cross"]
SW = ["sweep", "--symbol", "SPX", "--strategy", "sma_cross"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "--symbol", "NOPE", "--strategy", "sma_cross"], "no 1d bars for 'NOPE'"),
        ([*BT, "--timeframe", "1h"], "no 1h bars for 'SPX'"),
        ([*BT, "--param", "fsat=3"], "did you mean 'fast'"),
        ([*BT, "--param", "fast"], "not of the form name=value"),
        (["backtest", "--symbol", "SPX", "--strategy", "nope"], "nope"),
        ([*BT, "--engine", "zipline"], "unknown --engine"),
        ([*BT, "--fee", "-1"], "invalid backtest setting fee"),
        ([*SW, "--grid", "fast"], "bad --grid"),
        ([*SW, "--grid", "fast=5:20"], "exactly start:stop:step"),
        ([*SW, "--grid", "fast=5:x:1"], "not a number"),
        ([*SW, "--grid", "fast=5:20:0"], "step must be > 0"),
        ([*SW, "--grid", "fast=20:5:1"], "stop is below start"),
        ([*SW, "--grid", "fats=5:20:5"], "unknown parameter"),
        ([*SW, "--grid", "fast=5:6:1", "--grid", "fast=7,8"], "twice"),
        (SW, "at least one --grid"),
        ([*SW, "--grid", "fast=5:6:1", "--device", "tpu"], "invalid backtest setting device"),
        ([*SW, "--grid", "fast=5:6:1", "--rank-by", "luck"], "unknown ranking metric"),
    ],
)
def test_bad_inputs_are_one_line_errors(cli: Any, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "never.json"
    run = cli(*args, "--json", str(out))
    assert run.code != 0
    assert run.err.startswith("error: ") and message in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1
    assert "Traceback" not in run.err
    assert not out.exists()


def test_empty_lake_is_a_one_line_error(cli: Any, tmp_path: Path) -> None:
    run = cli("backtest", "--symbol", "SPX", "--strategy", "sma_cross", lake=str(tmp_path / "empty"))
    assert run.code != 0
    assert run.err.startswith("error: ") and "no table 'bars'" in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_console_script_end_to_end(filled_lake: str, tmp_path: Path) -> None:
    out = tmp_path / "e2e.json"
    env = {**os.environ, "TORCHTRADER_LAKE": filled_lake}
    script = Path(sys.executable).with_name("torchtrader")
    done = subprocess.run(
        [str(script), "backtest", "--symbol", "SPX", "--strategy", "macd_trend", "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["strategy"] == "macd_trend"
