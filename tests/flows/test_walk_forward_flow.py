"""The walk-forward flow on a real Prefect API: OOS table, report and MLflow link artifacts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.walk_forward import WalkForwardRequest, mlflow_run_link, walk_forward_flow
from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame

pytestmark = pytest.mark.flows


def newest_artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return max(artifacts, key=lambda a: a.created)  # type: ignore[arg-type,return-value]


def test_walk_forward_flow_publishes_the_oos_table_and_the_mlflow_link(
    prefect_harness: None, lake_uri: str, mlflow_uri: str
) -> None:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2013, 1, 1), date(2018, 12, 31)))
    request = WalkForwardRequest(
        symbol="SPX", strategy="sma_cross", train="2y", test="2y", grid=["fast=5,10", "slow=30,60"],
        lake=lake_uri, mlflow_uri=mlflow_uri, artifact_key="wf-test",
    )  # fmt: skip
    document = walk_forward_flow(request)
    assert len(document["windows"]) == 2 and document["run_id"]
    table = json.loads(newest_artifact("wf-test").data)
    assert [row["test_start"] for row in table] == [w["test_start"] for w in document["windows"]]
    assert table[0]["oos_total_return"] == document["windows"][0]["out_of_sample"]["total_return"]
    link = newest_artifact("wf-test-mlflow")
    assert document["run_id"] in link.data
    report = newest_artifact("wf-test-report")
    assert document["run_id"] in report.data


def test_mlflow_link_points_at_the_server_or_a_local_ui() -> None:
    assert mlflow_run_link("http://mlflow:5000/", "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"
    assert mlflow_run_link("sqlite:////x/mlflow.db", "1", "r").startswith("http://127.0.0.1:5000/#/")
