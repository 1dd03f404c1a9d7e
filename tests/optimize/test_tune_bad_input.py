"""Bad tune input: one line naming the culprit, exit 1, no MLflow run left RUNNING, the lake unchanged."""

from __future__ import annotations

import socket
from datetime import date

import pytest
from mlflow import MlflowClient

from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame

BASE = [
    "tune",
    "--symbol",
    "SPX",
    "--strategy",
    "sma_cross",
    "--space",
    "fast=5:10:5",
    "--space",
    "slow=30:40:10",
]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def spx_lake(lake_uri: str) -> str:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2017, 1, 1), date(2018, 12, 31)))
    return lake_uri


def all_runs(uri: str) -> list:  # type: ignore[type-arg]
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids)) if ids else []


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["tune", "--symbol", "SPX", "--strategy", "sma_crosss"], "unknown strategy 'sma_crosss'"),
        ([*BASE[:5], "--space", "fats=5:10"], "unknown parameter 'fats'"),
        ([*BASE[:5], "--space", "fast=10:5:1"], "stop is below start"),
        ([*BASE[:5], "--space", "fast=30:40:10", "--space", "slow=5:10:5"], "no valid parameter combination"),
        ([*BASE, "--start", "2030-01-01"], "bar(s) in"),
        ([*BASE, "--search", "random", "--samples", "0"], "--samples must be >= 1"),
        ([*BASE, "--search", "anneal"], "unknown --search"),
        ([*BASE, "--objective", "profit"], "unknown --objective"),
        ([*BASE, "--ray-address", f"127.0.0.1:{closed_port()}"], "cannot reach Ray"),
        (["tune", "--symbol", "NOPE", "--strategy", "sma_cross"], "NOPE"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_leaves_no_trace(
    spx_lake: str, mlflow_uri: str, run_cli, args: list[str], culprit: str
) -> None:
    before = Lake(spx_lake).version("bars")
    result = run_cli(spx_lake, *args, "--mlflow-uri", mlflow_uri, "--json", "-")
    assert result.code == 1
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("error: ") and culprit in lines[-1], result.err
    assert all_runs(mlflow_uri) == []  # everything is checked before a run exists
    assert Lake(spx_lake).version("bars") == before


def test_an_unreachable_mlflow_server_is_refused_before_anything_runs(spx_lake: str, run_cli) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(spx_lake, *BASE, "--mlflow-uri", uri)
    assert result.code == 1
    assert "cannot reach the MLflow server" in result.err.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_tune_failing_after_its_run_started_ends_failed_with_the_reason(
    local_ray: None, spx_lake: str, mlflow_uri: str, run_cli
) -> None:
    result = run_cli(spx_lake, *BASE, "--min-trades", "100000", "--mlflow-uri", mlflow_uri)
    assert result.code == 1
    assert "at least 100000 trades" in result.err.strip().splitlines()[-1]
    (run,) = [r for r in all_runs(mlflow_uri) if "mlflow.parentRunId" not in r.data.tags]
    assert run.info.status == "FAILED"
    assert "at least 100000 trades" in run.data.tags["failure_reason"]
    assert {r.info.status for r in all_runs(mlflow_uri)} <= {"FINISHED", "FAILED"}
