"""tune-model: real local Ray, ASHA, checkpoints, a parent MLflow run with nested trial runs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_tune_model_nests_trials_and_registers_the_best(
    run_cli: Any, tmp_path: Path, mlflow_uri: str
) -> None:
    lake = str(tmp_path / "lake")
    Lake(lake).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31)))
    out = tmp_path / "tune.json"
    run = run_cli(
        lake, "tune-model", "--model", "lstm", "--symbol", "SPX", "--samples", "3", "--epochs", "2",
        "--lookbacks", "4,8", "--hiddens", "4", "--scheduler", "asha", "--register", "tuned",
        "--mlflow-uri", mlflow_uri, "--json", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert len(doc["trials"]) == 3 and doc["gpus_per_trial"] == 0.0
    assert doc["best"]["val_loss"] == min(t["val_loss"] for t in doc["trials"])
    assert doc["best"]["config"]["lookback"] in (4, 8)
    assert doc["registered"] == {"name": "tuned", "version": 1, "alias": "challenger"}
    client = MlflowClient(tracking_uri=mlflow_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == doc["parent_run_id"]]
    assert len(children) == 4  # three trials and the refit of the best
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert doc["run_id"] in {r.info.run_id for r in children}
