"""The retrain flow on a real Prefect API: train the latest window, register, promote on merit, alert."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.retrain import RetrainRequest, retrain_flow
from torchtrader.alerts.receiver import WebhookReceiver
from torchtrader.config import load_settings
from torchtrader.lake import Lake
from torchtrader.models.registry import promote
from torchtrader.models.training import TrainConfig
from torchtrader.testing.market import sample_frame

pytestmark = pytest.mark.flows

TINY = TrainConfig(model="lstm", lookback=8, hidden=8, epochs=2, batch_size=64)


@pytest.mark.usefixtures("prefect_harness")
def test_retrain_promotes_only_on_merit_and_alerts(tmp_path: Path, mlflow_uri: str) -> None:
    lake = str(tmp_path / "lake")
    Lake(lake).upsert_bars(sample_frame("SPX", date(2014, 1, 1), date(2016, 12, 31)))
    settings = load_settings(lake=lake, mlflow_uri=mlflow_uri)
    with WebhookReceiver() as hook:
        request = RetrainRequest(name="spx", config=TINY, last_bars=400, alert_urls=[hook.url])
        first = retrain_flow(request, settings)
        assert first["promotion"]["promoted"] and first["alerted"]  # nothing to beat yet
        assert "spx v1 promoted" in hook.wait_for(1)[0]["title"]
        assert first["train"]["registered"]["alias"] == "challenger"
        # a champion that cannot be beaten (log loss 0) keeps its alias; no alert goes out
        client = MlflowClient(tracking_uri=mlflow_uri)
        client.set_model_version_tag("spx", "1", "test_log_loss", "0.0")
        second = retrain_flow(request, settings)
        assert not second["promotion"]["promoted"] and not second["alerted"]
        assert int(client.get_model_version_by_alias("spx", "champion").version) == 1
        assert int(client.get_model_version_by_alias("spx", "challenger").version) == 2
        assert len(hook.payloads) == 1
    promote(mlflow_uri, "spx", 2)  # a person may still promote by hand
    assert int(client.get_model_version_by_alias("spx", "champion").version) == 2
