"""`sweep --track`: the sweep as an MLflow parent run (lineage tags, the whole combination table as
Parquet, the best's tearsheet, the best's metrics), reproduced by `runs reproduce` on its pinned lake
version; bad input leaves no run RUNNING and the lake unchanged.

Checked independently of the code under test: the Parquet artifact is read with pyarrow and ranked
with pandas, the git commit comes from `git rev-parse`, the lake version from the lake itself.
"""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame
from torchtrader.testing.net import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SWEEP = [
    "sweep",
    "--symbol",
    "SPX",
    "--strategy",
    "sma_cross",
    "--grid",
    "fast=5:20:5",
    "--grid",
    "slow=30:60:10",
]
RANGE = ["--start", "2016-01-01", "--end", "2018-06-01", "--fee", "0.001"]


@pytest.fixture
def spx_lake(lake_uri: str) -> str:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2018, 12, 31)))
    return lake_uri


def tracked(mlflow_uri: str, *extra: str) -> list[str]:
    return [*SWEEP, "--track", "--mlflow-uri", mlflow_uri, *extra]


def all_runs(uri: str) -> list[Any]:
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids)) if ids else []


def test_a_tracked_sweep_is_a_parent_run_holding_what_the_plain_sweep_computed(
    spx_lake: str, mlflow_uri: str, run_cli, tmp_path: Path
) -> None:
    plain = run_cli(spx_lake, *SWEEP, *RANGE, "--json", "-")
    done = run_cli(spx_lake, *tracked(mlflow_uri, *RANGE, "--experiment", "sweeps", "--json", "-"))
    assert plain.code == 0 and done.code == 0, done.err
    document, expected = done.json(), plain.json()
    run_id = document.pop("run_id")
    assert document.pop("experiment") == "sweeps"
    assert document == expected  # tracking changes nothing in the result

    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "sweep-sma_cross-SPX"
    tags = run.data.tags
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert tags["mlflow.source.git.commit"] == head.stdout.strip()
    assert tags["lake_version"] == str(Lake(spx_lake).version("bars")) == str(expected["lake_version"])
    assert (tags["kind"], tags["strategy"], tags["search"], tags["symbol"]) == (
        "sweep",
        "sma_cross",
        "grid",
        "SPX",
    )
    assert (tags["start"], tags["end"]) == ("2016-01-01T00:00:00+00:00", "2018-06-01T00:00:00+00:00")
    assert "mlflow.parentRunId" not in tags
    best = expected["top"][0]
    assert json.loads(tags["best_params"]) == best["params"]
    assert run.data.params["fee"] == "0.001"
    metrics = run.data.metrics
    assert metrics["best_sharpe"] == pytest.approx(best["metrics"]["sharpe"], rel=1e-12)
    assert metrics["best_objective"] == metrics["best_sharpe"]
    assert metrics["n_evaluations"] == expected["n_combos"] == 16
    assert metrics["deflated_sharpe"] == pytest.approx(expected["deflated_sharpe"]["dsr"], rel=1e-12)

    folder = tmp_path / "artifacts"
    folder.mkdir()
    table = pq.read_table(client.download_artifacts(run_id, "combinations.parquet", str(folder))).to_pandas()
    assert len(table) == 16 and {"fast", "slow", "sharpe", "total_return"} <= set(table.columns)
    ranked = table.sort_values("sharpe", ascending=False, kind="stable").head(len(expected["top"]))
    assert [{"fast": r.fast, "slow": r.slow} for r in ranked.itertuples()] == [
        r["params"] for r in expected["top"]
    ]
    sheet = Path(client.download_artifacts(run_id, "best_tearsheet.html", str(folder))).read_text()
    assert sheet.lstrip().lower().startswith("<!doctype html>") and "plotly" in sheet.lower()
    spec = json.loads(Path(client.download_artifacts(run_id, "sweep_spec.json", str(folder))).read_text())
    assert spec["grid"] == {"fast": [5, 10, 15, 20], "slow": [30, 40, 50, 60]}
    assert spec["lake_version"] == expected["lake_version"]

    listed = run_cli(spx_lake, "runs", "list", "--mlflow-uri", mlflow_uri, "--json")
    assert [(r["run_id"], r["kind"]) for r in json.loads(listed.out)] == [(run_id, "sweep")]
    shown = json.loads(run_cli(spx_lake, "runs", "show", run_id, "--mlflow-uri", mlflow_uri, "--json").out)
    assert {"combinations.parquet", "best_tearsheet.html", "sweep_spec.json", "sweep_result.json"} <= set(
        shown["artifacts"]
    )


def test_runs_reproduce_rebuilds_a_tracked_sweep_on_its_pinned_lake_version(
    spx_lake: str, mlflow_uri: str, run_cli
) -> None:
    first = run_cli(spx_lake, *tracked(mlflow_uri, "--pbo", "--json", "-"))
    assert first.code == 0, first.err
    recorded = first.json()
    # The lake moves on: a year of earlier bars changes what an unpinned sweep of the series sees.
    Lake(spx_lake).upsert_bars(sample_frame("SPX", date(2012, 1, 1), date(2014, 12, 31)))
    moved = run_cli(spx_lake, *SWEEP, "--json", "-").json()
    assert moved["lake_version"] != recorded["lake_version"]
    assert moved["top"][0]["metrics"] != recorded["top"][0]["metrics"]

    again = run_cli(
        spx_lake, "runs", "reproduce", recorded["run_id"], "--mlflow-uri", mlflow_uri, "--json", "-"
    )
    assert again.code == 0, again.err
    report = again.json()
    assert report["identical"] and report["table_identical"] and report["differences"] == []
    assert report["best"] == recorded["top"][0]
    assert report["lake_version"] == recorded["lake_version"]
    assert report["code"]["matches"]
    client = MlflowClient(tracking_uri=mlflow_uri)
    rerun = client.get_run(report["reproduced_run_id"])
    assert rerun.info.status == "FINISHED" and rerun.data.tags["reproduces"] == recorded["run_id"]
    assert rerun.data.metrics["pbo"] == pytest.approx(recorded["pbo"]["pbo"], abs=0)


@pytest.mark.parametrize(
    ("extra", "uri", "culprit", "leaves"),
    [
        ([], "unreachable", "cannot reach the MLflow server", "no run"),
        (["--strategy", "nope"], "store", "nope", "no run"),
        (["--grid", "window=1:3"], "store", "window", "no run"),
        (["--start", "2030-01-01"], "store", "2030-01-01", "failed run"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_leaves_no_running_run(
    spx_lake: str, mlflow_uri: str, run_cli, extra: list[str], uri: str, culprit: str, leaves: str
) -> None:
    target = f"http://127.0.0.1:{free_port()}" if uri == "unreachable" else mlflow_uri
    version = Lake(spx_lake).version("bars")
    failed = run_cli(spx_lake, *tracked(target, *extra, "--json", "-"))
    assert failed.code == 1 and failed.out == ""
    # one error line; retry warnings a client library logs on the way (order-dependent) are not ours
    (line,) = [text for text in failed.err.strip().splitlines() if text.startswith("error: ")]
    assert culprit in line
    runs = all_runs(mlflow_uri)
    if leaves == "no run":
        assert runs == []
    else:
        (run,) = runs
        assert run.info.status == "FAILED" and "2030-01-01" in run.data.tags["failure_reason"]
    assert Lake(spx_lake).version("bars") == version
