"""A tune logged through a real `mlflow server` (SQLite backend, 127.0.0.1, temp dir, stopped by pid)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame
from torchtrader.testing.net import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path: Path, _mlflow_template_db: Path) -> Iterator[str]:
    home = tmp_path / "server"
    home.mkdir()
    shutil.copyfile(_mlflow_template_db, home / "mlflow.db")
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
         "--artifacts-destination", str(home / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        cwd=home, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # ready when /health answers; a server that died fails the test with its log
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_a_tune_logs_through_a_real_tracking_server(
    local_ray: None, mlflow_server: str, lake_uri: str, run_cli, tmp_path: Path
) -> None:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2017, 1, 1), date(2018, 12, 31)))
    result = run_cli(
        lake_uri, "tune", "--symbol", "SPX", "--strategy", "sma_cross", "--space", "fast=5:15:5",
        "--space", "slow=30:50:20", "--mlflow-uri", mlflow_server, "--experiment", "served", "--json", "-",
    )  # fmt: skip
    assert result.code == 0, result.err
    doc = result.json()
    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(doc["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    trials = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{doc['run_id']}'"
    )
    assert len(trials) == doc["n_trials"] >= 1
    artifacts = {a.path for a in client.list_artifacts(doc["run_id"])}
    assert {"evaluations.parquet", "best_tearsheet.html", "tune_spec.json"} <= artifacts
    listed = run_cli(
        lake_uri, "runs", "list", "--mlflow-uri", mlflow_server, "--experiment", "served", "--json"
    )
    assert [r["run_id"] for r in listed.json()] == [doc["run_id"]]
