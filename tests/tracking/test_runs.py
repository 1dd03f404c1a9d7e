"""tracked_run: runs always end (FINISHED, or FAILED with the reason), nest under a parent, and carry
Parquet artifacts and lineage tags that can be checked independently of the code under test."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient
from polars.testing import assert_frame_equal

from torchtrader.errors import ConfigError
from torchtrader.tracking import (
    FAILURE_TAG,
    PARENT_TAG,
    check_tracking_uri,
    lineage_tags,
    tracked_run,
)

REPO = Path(__file__).resolve().parents[2]


def runs_of(uri: str, experiment: str) -> list:  # type: ignore[type-arg]
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return list(client.search_runs([found.experiment_id]))


def test_a_run_ends_finished_with_its_params_metrics_and_tags(mlflow_uri: str) -> None:
    with tracked_run(
        mlflow_uri, "exp", run_name="one", tags={"k": "v"}, params={"fast": 10, "grid": [1, 2]}
    ) as run:
        run.log_metrics({"sharpe": 1.5, "undefined": None, "n_trades": 7})
        run.set_tags({"extra": 3})
    (only,) = runs_of(mlflow_uri, "exp")
    assert only.info.run_id == run.run_id
    assert only.info.status == "FINISHED"
    assert only.info.run_name == "one"
    assert only.data.params == {"fast": "10", "grid": "[1, 2]"}
    assert only.data.metrics == {"sharpe": 1.5, "n_trades": 7.0}
    assert only.data.tags["k"] == "v" and only.data.tags["extra"] == "3"


def test_artifacts_live_beside_the_sqlite_database(mlflow_uri: str, tmp_path: Path) -> None:
    with tracked_run(mlflow_uri, "beside", run_name="a") as run:
        run.log_text("hello", "notes/hello.txt")
    (only,) = runs_of(mlflow_uri, "beside")
    stored = tmp_path / "mlartifacts" / "beside" / run.run_id / "artifacts" / "notes" / "hello.txt"
    assert only.info.artifact_uri == (tmp_path / "mlartifacts" / "beside" / run.run_id / "artifacts").as_uri()
    assert stored.read_text() == "hello"


@pytest.mark.parametrize(
    ("raised", "status", "reason"),
    [
        (ValueError("bad space\nsecond line"), "FAILED", "ValueError: bad space"),
        (ConfigError("no bars in range"), "FAILED", "ConfigError: no bars in range"),
        (KeyboardInterrupt(), "KILLED", "KeyboardInterrupt"),
    ],
)
def test_a_failing_block_ends_the_run_with_the_reason_and_reraises(
    mlflow_uri: str, raised: BaseException, status: str, reason: str
) -> None:
    with pytest.raises(type(raised)), tracked_run(mlflow_uri, "fails", run_name="x"):
        raise raised
    (only,) = runs_of(mlflow_uri, "fails")
    assert only.info.status == status
    assert only.data.tags[FAILURE_TAG] == reason


def test_nested_runs_name_their_parent(mlflow_uri: str) -> None:
    with tracked_run(mlflow_uri, "nest", run_name="parent") as parent:
        for i in range(2):
            with tracked_run(mlflow_uri, "nest", run_name=f"trial-{i}", parent_run_id=parent.run_id):
                pass
    runs = {r.info.run_name: r for r in runs_of(mlflow_uri, "nest")}
    assert set(runs) == {"parent", "trial-0", "trial-1"}
    assert PARENT_TAG not in runs["parent"].data.tags
    assert {runs[f"trial-{i}"].data.tags[PARENT_TAG] for i in range(2)} == {parent.run_id}
    assert all(r.info.status == "FINISHED" for r in runs.values())


def test_log_frame_round_trips_through_parquet(mlflow_uri: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"fast": [5, 10], "slow": [20, 30], "sharpe": [0.5, float("nan")]})
    with tracked_run(mlflow_uri, "frames", run_name="f") as run:
        run.log_frame(frame, "evaluations")
    client = MlflowClient(tracking_uri=mlflow_uri)
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["evaluations.parquet"]
    local = client.download_artifacts(run.run_id, "evaluations.parquet", str(tmp_path / "dl"))
    assert_frame_equal(pl.read_parquet(local), frame)


def test_lineage_of_a_builtin_names_data_code_and_search() -> None:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    tags = lineage_tags(lake_version=7, strategy="sma_cross", seed=3, search="grid")
    assert tags["lake_table"] == "bars"
    assert tags["lake_version"] == "7"
    assert tags["mlflow.source.git.commit"] == head.stdout.strip()
    assert tags["strategy"] == "sma_cross"
    assert "strategy_file_sha256" not in tags
    assert (tags["seed"], tags["search"], tags["start"], tags["end"]) == ("3", "grid", "none", "none")


def test_lineage_of_a_user_file_hashes_its_bytes(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    source = (REPO / "torchtrader" / "strategies" / "sma_cross.py").read_text()
    user = tmp_path / "mine.py"
    user.write_text(source.replace('name = "sma_cross"', 'name = "mine_cross"'))
    tags = lineage_tags(
        lake_version=None,
        strategy="mine_cross",
        strategies_dir=str(tmp_path),
        start=datetime(2020, 1, 1, tzinfo=UTC),
    )
    assert tags["strategy_file"] == str(user.resolve())
    assert tags["strategy_file_sha256"] == hashlib.sha256(user.read_bytes()).hexdigest()
    assert (tags["lake_version"], tags["start"]) == ("none", "2020-01-01T00:00:00+00:00")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("uri", "culprit"),
    [
        (f"http://127.0.0.1:{closed_port()}", "cannot reach the MLflow server"),
        ("sqlite:///relative/mlflow.db", "is relative"),
        ("sqlite:////nonexistent-folder-xyz/mlflow.db", "does not exist"),
        ("./mlruns", "file store"),
    ],
)
def test_unusable_tracking_uris_are_refused_in_one_line(uri: str, culprit: str) -> None:
    with pytest.raises(ConfigError, match=culprit) as caught:
        check_tracking_uri(uri, timeout_s=2)
    assert "\n" not in str(caught.value)


def test_an_absolute_sqlite_uri_passes(mlflow_uri: str) -> None:
    check_tracking_uri(mlflow_uri)
