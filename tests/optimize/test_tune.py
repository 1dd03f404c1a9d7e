"""`torchtrader tune` on real Ray (the session's local Ray) and a real SQLite MLflow store.

The grid tune must rank exactly what `sweep` ranks (same combos, same metrics: an independent path
through the engine), the Bayesian search must reproduce from its seed, every trial is a nested MLflow
run, and `runs reproduce` must rebuild the best parameters and metrics bit for bit.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from torchtrader.backtest.runner import SeriesRef
from torchtrader.lake import Lake
from torchtrader.optimize.tune import run_tune
from torchtrader.testing.market import sample_frame

pytestmark = pytest.mark.slow

GRID = ["--space", "fast=5:20:5", "--space", "slow=30:60:10"]
METRICS = ("total_return", "sharpe", "sortino", "max_drawdown", "n_trades", "calmar", "win_rate")


@pytest.fixture
def spx_lake(lake_uri: str) -> str:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2018, 12, 31)))
    return lake_uri


def tune_args(mlflow_uri: str, *extra: str) -> list[str]:
    return ["tune", "--symbol", "SPX", "--strategy", "sma_cross", "--mlflow-uri", mlflow_uri, *extra]


def test_a_tracked_grid_tune_ranks_what_sweep_ranks_and_reproduces(
    local_ray: None, spx_lake: str, mlflow_uri: str, run_cli, tmp_path: Path
) -> None:
    tuned = run_cli(
        spx_lake,
        *tune_args(
            mlflow_uri,
            *GRID,
            "--search",
            "grid",
            "--fee",
            "0.001",
            "--experiment",
            "grid-vs-sweep",
            "--json",
            "-",
        ),
    )
    assert tuned.code == 0, tuned.err
    swept = run_cli(
        spx_lake,
        "sweep",
        "--symbol",
        "SPX",
        "--strategy",
        "sma_cross",
        "--grid",
        "fast=5:20:5",
        "--grid",
        "slow=30:60:10",
        "--fee",
        "0.001",
        "--top",
        "10",
        "--json",
        "-",
    )
    assert swept.code == 0, swept.err
    doc, sweep_doc = tuned.json(), swept.json()

    assert set(doc) == {
        "run_id",
        "experiment",
        "search",
        "objective",
        "n_evaluations",
        "n_trials",
        "elapsed_s",
        "best",
        "top",
        "deflated_sharpe",
        "lake_version",
        "start",
        "end",
        "seed",
    }
    assert doc["n_evaluations"] == sweep_doc["n_combos"] == 16
    assert 2 <= doc["n_trials"] < doc["n_evaluations"]
    assert [row["params"] for row in doc["top"]] == [row["params"] for row in sweep_doc["top"]]
    for ours, theirs in zip(doc["top"], sweep_doc["top"], strict=True):
        assert {k: ours["metrics"][k] for k in METRICS} == {k: theirs["metrics"][k] for k in METRICS}
        assert ours["metrics"]["objective"] == ours["metrics"]["sharpe"]
    assert doc["best"] == doc["top"][0]
    assert doc["lake_version"] == Lake(spx_lake).version("bars")
    assert 0.0 <= doc["deflated_sharpe"]["dsr"] <= 1.0 and doc["deflated_sharpe"]["n_trials"] == 16

    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = client.get_run(doc["run_id"])
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert (tags["lake_table"], tags["lake_version"]) == ("bars", str(doc["lake_version"]))
    assert (tags["strategy"], tags["search"], tags["seed"]) == ("sma_cross", "grid", "0")
    assert len(tags["mlflow.source.git.commit"]) == 40
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{doc['run_id']}'"
    )
    assert len(children) == doc["n_trials"]
    assert {c.info.status for c in children} == {"FINISHED"}
    assert sum(c.data.metrics["n_evaluations"] for c in children) == 16
    artifacts = {a.path for a in client.list_artifacts(doc["run_id"])}
    assert {"evaluations.parquet", "best_tearsheet.html", "tune_spec.json", "tune_result.json"} <= artifacts
    table = pl.read_parquet(client.download_artifacts(doc["run_id"], "evaluations.parquet", str(tmp_path)))
    assert table.height == 16 and table["combo"].to_list() == list(range(16))

    listed = run_cli(spx_lake, "runs", "list", "--mlflow-uri", mlflow_uri, "--json")
    assert [r["run_id"] for r in listed.json()] == [doc["run_id"]]  # trials are nested, not listed
    shown = run_cli(spx_lake, "runs", "show", doc["run_id"], "--mlflow-uri", mlflow_uri, "--json")
    assert len(shown.json()["trials"]) == doc["n_trials"]
    again = run_cli(spx_lake, "runs", "reproduce", doc["run_id"], "--mlflow-uri", mlflow_uri, "--json", "-")
    assert again.code == 0, again.err
    report = again.json()
    assert report["identical"] and report["params_identical"] and report["metrics_identical"]
    assert report["best"] == doc["best"]
    assert report["code"]["matches"] is True
    assert client.get_run(report["reproduced_run_id"]).data.tags["reproduces"] == doc["run_id"]


def test_bayes_reproduces_from_its_seed_and_min_trades_decide_the_winner(
    local_ray: None, spx_lake: str
) -> None:
    def tune(seed: int, min_trades: int = 0):  # type: ignore[no-untyped-def]
        return run_tune(
            Lake(spx_lake),
            SeriesRef("SPX"),
            "sma_cross",
            ["fast=2:60", "slow=10:250"],
            search="bayes",
            samples=24,
            seed=seed,
            min_trades=min_trades,
            batch_size=6,
        )

    first, second = tune(7), tune(7)
    assert first.n_evaluations == 24 and first.n_trials == 4
    assert first.frame.equals(second.frame)
    assert first.to_json()["best"] == second.to_json()["best"]
    assert first.frame.select("fast", "slow").unique().height == 24  # every evaluation a new combo

    floor = 40
    picky = tune(7, min_trades=floor)
    eligible = picky.frame.filter(pl.col("objective").is_not_null())
    assert (eligible["n_trades"] >= floor).all()
    assert picky.best.metrics.n_trades >= floor
    assert (
        picky.frame.filter(pl.col("n_trades") < floor)["objective"].null_count()
        == picky.frame.filter(pl.col("n_trades") < floor).height
    )
