"""Walk-forward on real S&P 500 bars: the JSON contract, no lookahead, the stitched OOS curve by hand,
MLflow parent and nested runs, and bad input (one line, exit 1, no run left behind)."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from torchtrader.backtest import runner
from torchtrader.backtest.config import BacktestConfig
from torchtrader.lake import Lake
from torchtrader.optimize.objectives import make_objective
from torchtrader.optimize.walkforward import choose_on_grid, walk_forward
from torchtrader.optimize.walkforward_report import WalkForwardResult
from torchtrader.testing.market import sample_frame

GRID = ["fast=5,10,20", "slow=30,60"]
SPX = ("SPX", date(2012, 1, 1), date(2018, 12, 31))
CONFIG = BacktestConfig(fee=0.0005)


@pytest.fixture(scope="module")
def spx_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("wf") / "lake")
    Lake(uri).upsert_bars(sample_frame(*SPX))
    return uri


@pytest.fixture(scope="module")
def walked(spx_lake: str) -> WalkForwardResult:
    return walk_forward(
        Lake(spx_lake), runner.SeriesRef("SPX"), "sma_cross", train="2y", test="1y", grid=GRID, config=CONFIG
    )


def test_json_has_exactly_the_contract_keys(walked: WalkForwardResult) -> None:
    doc = json.loads(json.dumps(walked.to_json(), allow_nan=False))
    assert set(doc) == {"windows", "oos", "is", "pbo", "run_id"}
    assert len(doc["windows"]) == 5  # 2014, 2015, 2016, 2017, 2018 (to the data's end)
    for w in doc["windows"]:
        assert set(w) == {
            "train_start", "train_end", "test_start", "test_end", "best_params", "in_sample", "out_of_sample"
        }  # fmt: skip
        assert w["train_end"] == w["test_start"]
        assert set(w["best_params"]) == {"fast", "slow"}
    for before, after in itertools.pairwise(doc["windows"]):
        assert before["test_end"] == after["test_start"]
    assert 0.0 <= doc["pbo"] <= 1.0
    assert doc["run_id"] is None  # no tracking URI given


def test_stitched_oos_equals_a_recomputation_by_hand(spx_lake: str, walked: WalkForwardResult) -> None:
    curves = []
    for w in walked.windows:
        one = runner.backtest(
            Lake(spx_lake), runner.SeriesRef("SPX"), "sma_cross", w.best_params, CONFIG,
            start=w.window.test_start, end=w.window.test_end,
        )  # fmt: skip
        curves.append(one.equity["equity"].to_numpy())
    # chain by hand: each window restarts flat with the cash, so its growth multiplies the level
    level, chained, returns = 10_000.0, [], []
    for k, curve in enumerate(curves):
        scaled = curve / curve[0] * level
        chained.append(scaled)
        if k:
            returns.append([0.0])  # flat across the boundary
        returns.append(curve[1:] / curve[:-1] - 1)
        level = scaled[-1]
    equity, r = np.concatenate(chained), np.concatenate(returns)
    growth = math.prod(c[-1] / c[0] for c in curves)
    oos = walked.oos
    assert oos.total_return == pytest.approx(growth - 1, rel=1e-12)
    assert oos.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252), rel=1e-10)
    peak = np.maximum.accumulate(equity)
    assert oos.max_drawdown == pytest.approx(float(np.max(1 - equity / peak)), rel=1e-12)
    assert oos.n_trades == sum(w.out_of_sample.n_trades for w in walked.windows)
    np.testing.assert_allclose(walked.equity["equity"].to_numpy(), equity, rtol=1e-12)
    assert walked.equity["ts"].is_sorted() and walked.equity["ts"].n_unique() == walked.equity.height


def _perturbed_after(frame: pl.DataFrame, cut: Any, seed: int) -> pl.DataFrame:
    """The same bars up to ``cut``; afterwards every bar's prices scaled by a random factor."""
    rng = np.random.default_rng(seed)
    factor = pl.Series(rng.uniform(0.7, 1.3, frame.height))
    after = pl.col("ts") >= cut
    return frame.with_columns(
        [
            pl.when(after).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ]
    )


def test_no_lookahead_choices_ignore_bars_after_the_train_end(
    walked: WalkForwardResult, tmp_path: Path
) -> None:
    frame = sample_frame(*SPX)
    goal = make_objective("sharpe")
    ranges = runner.parse_grid(GRID)
    for w in walked.windows[:3]:
        lake = Lake(str(tmp_path / f"lake{w.window.index}"))
        lake.upsert_bars(_perturbed_after(frame, w.window.train_end, seed=w.window.index))
        params, in_sample = choose_on_grid(
            lake, runner.SeriesRef("SPX"), "sma_cross", ranges, goal, CONFIG, w.window
        )
        assert params == w.best_params
        assert in_sample == w.in_sample
        # control: the next window trains on perturbed bars, so the perturbation is visible to it
        later = walked.windows[w.window.index + 1]
        _, seen = choose_on_grid(
            lake, runner.SeriesRef("SPX"), "sma_cross", ranges, goal, CONFIG, later.window
        )
        assert seen != later.in_sample


def test_cli_tracks_parent_and_nested_window_runs(
    run_cli: Callable[..., Any], spx_lake: str, mlflow_uri: str, tmp_path: Path
) -> None:
    out = tmp_path / "wf.json"
    run = run_cli(
        spx_lake, "walkforward", "--symbol", "SPX", "--strategy", "sma_cross", "--train", "3y",
        "--test", "2y", "--grid", "fast=5,10", "--grid", "slow=30,60", "--mlflow-uri", mlflow_uri,
        "--experiment", "wf-test", "--json", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert len(doc["windows"]) == 2
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = client.get_run(doc["run_id"])
    assert parent.info.status == "FINISHED"
    assert "sma_cross" in parent.data.tags.values()
    assert parent.data.metrics["oos_total_return"] == pytest.approx(doc["oos"]["total_return"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{doc['run_id']}'"
    )
    assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
    artifacts = {a.path for a in client.list_artifacts(doc["run_id"])}
    assert {"oos_windows.parquet", "oos_equity.parquet", "walkforward.json"} <= artifacts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train", "20y", "--test", "1y"], "--train 20y is longer than the data"),
        (["--train", "2x", "--test", "1y"], "bad --train '2x'"),
        (["--train", "2y", "--test", "0m"], "bad --test '0m'"),
        (["--train", "2y", "--test", "6m", "--step", "3m"], "--step 3m differs from --test 6m"),
        (["--train", "2y", "--test", "1y", "--strategy", "no_such_strategy"], "no_such_strategy"),
        (["--train", "2y", "--test", "1y", "--search", "annealing"], "unknown --search 'annealing'"),
        (["--train", "2y", "--test", "1y", "--objective", "luck"], "unknown --objective 'luck'"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_run(
    run_cli: Callable[..., Any], spx_lake: str, mlflow_uri: str, tmp_path: Path, args: list[str], message: str
) -> None:
    strategy = [] if "--strategy" in args else ["--strategy", "sma_cross"]
    out = tmp_path / "wf.json"
    run = run_cli(
        spx_lake, "walkforward", "--symbol", "SPX", *strategy, *args, "--grid", "fast=5,10",
        "--mlflow-uri", mlflow_uri, "--json", str(out),
    )  # fmt: skip
    assert run.code == 1
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.err
    assert not out.exists()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri)
    experiments = client.search_experiments()
    assert not client.search_runs([e.experiment_id for e in experiments])


@pytest.mark.slow
def test_random_search_through_tune_chooses_on_the_train_span(local_ray: None, spx_lake: str) -> None:
    lake, series = Lake(spx_lake), runner.SeriesRef("SPX")
    result = walk_forward(
        lake, series, "sma_cross", train="3y", test="2y", search="random", samples=6,
        grid=["fast=5:20", "slow=30:90"], config=CONFIG, seed=7,
    )  # fmt: skip
    assert len(result.windows) == 2
    for w in result.windows:
        assert 5 <= w.best_params["fast"] <= 20 and 30 <= w.best_params["slow"] <= 90
        again = runner.backtest(
            lake,
            series,
            "sma_cross",
            w.best_params,
            CONFIG,
            start=w.window.train_start,
            end=w.window.train_end,
        )
        assert w.in_sample == again.metrics  # in-sample = the choice backtested on its train span alone
    assert result.pbo is not None and result.pbo.n_strategies >= 2
