"""The tune flow on a real Prefect API: a tracked bayes tune per symbol, best params as artifacts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.tune import TuneRequest, tune_flow
from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame

pytestmark = [pytest.mark.flows, pytest.mark.slow]


def artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    newest = max(found, key=lambda a: a.created)  # type: ignore[arg-type,return-value]
    return json.loads(newest.data) if newest.type == "table" else newest.data


def test_the_flow_tunes_tracks_and_publishes_the_best(
    prefect_harness: None, local_ray: None, lake_uri: str, mlflow_uri: str
) -> None:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2017, 1, 1), date(2018, 12, 31)))
    request = TuneRequest(
        symbols=["SPX"], space=["fast=2:30", "slow=10:120"], search="bayes", samples=12, seed=5,
        artifact_key="tune-test", lake=lake_uri, mlflow_uri=mlflow_uri,
    )  # fmt: skip
    (row,) = tune_flow(request)
    assert row["n_evaluations"] == 12
    run = MlflowClient(tracking_uri=mlflow_uri).get_run(row["run_id"])
    assert run.info.status == "FINISHED"
    assert json.loads(run.data.tags["best_params"]) == row["best_params"]
    table = artifact("tune-test")
    assert (
        table[0]["run_id"] == row["run_id"] and table[0]["mlflow"] == f"torchtrader runs show {row['run_id']}"
    )
    assert row["run_id"] in artifact("tune-test-report")
