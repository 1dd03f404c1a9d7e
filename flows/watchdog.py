"""Alerts for scheduled runs that failed, crashed or are late, through the same apprise URLs as bots.

Two halves. ``alert_on_failure`` is a flow hook (``@flow(on_failure=[alert_on_failure],
on_crashed=[alert_on_failure])``): it fires from inside the failing run, at once. A run that never
starts (no worker, a full pool) cannot run a hook, so ``watchdog_flow`` — deployed every 10 minutes —
asks the Prefect API for deployment runs that ended Failed/Crashed in the last window, and for runs
still Late a whole window after they were due, and sends one alert each. Each run is reported once:
it falls into exactly one window. URLs come from settings (``TORCHTRADER_ALERT_URLS``, a JSON list).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterEndTime,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from pydantic import BaseModel, ConfigDict, Field

from tasks.alerts import send_alert_task
from torchtrader.alerts import send_alert
from torchtrader.config import load_settings


class WatchdogRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window_minutes: int = Field(default=10, gt=0, description="the deployment's interval: runs are seen once")
    alert_urls: list[str] | None = Field(default=None, description="None = settings.alert_urls")
    now: datetime | None = Field(default=None, description="act as if the clock read this (tests)")


def _run_line(run: Any, deployments: dict[Any, str]) -> str:
    deployment = deployments.get(run.deployment_id, "?")
    state = run.state.name if run.state else "?"
    message = (run.state.message or "").splitlines()[0][:200] if run.state and run.state.message else ""
    due = f" due {run.expected_start_time:%Y-%m-%d %H:%M} UTC" if run.expected_start_time else ""
    return f"{deployment} run {run.name} ({run.id}) is {state}{due}" + (f": {message}" if message else "")


@flow(name="watchdog", log_prints=True)
def watchdog_flow(request: WatchdogRequest | None = None) -> list[str]:
    """Alert on deployment runs that failed/crashed in the last window or have been Late for one."""
    request = request or WatchdogRequest()
    urls = request.alert_urls if request.alert_urls is not None else load_settings().alert_urls
    now = request.now or datetime.now(UTC)
    window = timedelta(minutes=request.window_minutes)
    in_a_deployment = FlowRunFilterDeploymentId(is_null_=False)
    with get_client(sync_client=True) as client:
        ended_badly = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])
                ),
                end_time=FlowRunFilterEndTime(after_=now - window, before_=now),
                deployment_id=in_a_deployment,
            ),
        )
        late = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"])),
                expected_start_time=FlowRunFilterExpectedStartTime(
                    after_=now - 2 * window, before_=now - window
                ),
                deployment_id=in_a_deployment,
            ),
        )
        ids = {run.deployment_id for run in [*ended_badly, *late]}
        deployments = {d: client.read_deployment(d).name for d in ids if d is not None}
    lines = [_run_line(run, deployments) for run in [*ended_badly, *late]]
    for line in lines:
        print(line)
        send_alert_task(urls, f"Torch Trader: {line.split(' run ')[0]} needs attention", line)
    return lines


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook: one alert for this run's failure or crash (never raises: alerts are best effort)."""
    message = (state.message or "").splitlines()[0][:300] if state.message else ""
    send_alert(
        load_settings().alert_urls,
        title=f"Torch Trader: flow {flow.name} {state.name}",
        body=f"flow run {flow_run.name} ({flow_run.id}) ended {state.name}"
        + (f": {message}" if message else ""),
        kind="error",
    )


if __name__ == "__main__":
    watchdog_flow()
