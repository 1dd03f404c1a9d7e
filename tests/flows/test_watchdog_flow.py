"""Alerts on scheduled runs that fail or are late (issue 12): the failure hook fires from inside a
failing run, and the watchdog finds failed and Late deployment runs through the real Prefect API and
alerts once per run — both delivered through apprise to a loopback webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Failed, Late, Scheduled

from flows.watchdog import WatchdogRequest, alert_on_failure, watchdog_flow
from torchtrader.alerts.receiver import WebhookReceiver

pytestmark = pytest.mark.flows


def test_the_failure_hook_alerts_once_with_the_runs_error(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    @flow(name="doomed", on_failure=[alert_on_failure])
    def doomed() -> None:
        raise RuntimeError("the exchange said no")

    with WebhookReceiver() as hook:
        monkeypatch.setenv("TORCHTRADER_ALERT_URLS", json.dumps([hook.url]))
        state = doomed(return_state=True)
        assert state.is_failed()
        (payload,) = hook.wait_for(1)
    assert payload["title"] == "Torch Trader: flow doomed Failed"
    assert "the exchange said no" in payload["message"]


def test_the_watchdog_alerts_failed_and_late_deployment_runs_once(prefect_harness: None) -> None:
    @flow(name="scheduled-job")
    def scheduled_job() -> None:
        pass

    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(scheduled_job)
        deployment_id = client.create_deployment(flow_id=flow_id, name="nightly")
        failed = client.create_flow_run_from_deployment(deployment_id, name="failed-run")
        client.set_flow_run_state(failed.id, Failed(message="worker lost"), force=True)
        late = client.create_flow_run_from_deployment(
            deployment_id, name="late-run", state=Scheduled(scheduled_time=now - timedelta(minutes=15))
        )
        client.set_flow_run_state(late.id, Late(scheduled_time=now - timedelta(minutes=15)), force=True)
        fine = client.create_flow_run_from_deployment(deployment_id, name="future-run")

    with WebhookReceiver() as hook:
        request = WatchdogRequest(window_minutes=10, alert_urls=[hook.url], now=now + timedelta(minutes=1))
        lines = watchdog_flow(request)
        payloads = hook.wait_for(2)
        # the next window sees neither again: each run is reported once
        later = watchdog_flow(request.model_copy(update={"now": now + timedelta(minutes=11)}))

    assert sorted(line.split(" (")[0] for line in lines) == [
        "nightly run failed-run",
        "nightly run late-run",
    ]
    assert all(str(fine.id) not in line for line in lines)
    assert "is Failed" in next(line for line in lines if "failed-run" in line)
    assert "worker lost" in next(line for line in lines if "failed-run" in line)
    assert "is Late due" in next(line for line in lines if "late-run" in line)
    assert len(payloads) == 2 and all(p["title"] == "Torch Trader: nightly needs attention" for p in payloads)
    assert later == []
