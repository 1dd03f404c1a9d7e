"""One real local stack for the end-to-end, services and browser tests: `prefect server`, a process
worker and `mlflow server` started through torchtrader.ops.services (what `make up` runs) on free
loopback ports with a temporary home; the deployments of deployments/prefect.yaml registered with
`prefect deploy`; stopped by pid at the end with ``services.down`` (what `make down` runs), which the
teardown checks: it stops exactly the three services it started, and a second call finds nothing.
Package-scoped: the browser checks look at the runs the e2e test made."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from torchtrader.ops import services as svc

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The deployments the e2e test triggers (names in deployments/prefect.yaml).
DEPLOYED = ("ingest-sample-daily", "backtests-daily", "tune-weekly", "bot-paper-btc")


def _dead(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not svc._alive(pid):
            return True
        time.sleep(0.2)
    return False


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Stack:
    home: Path
    prefect_api: str
    mlflow_url: str
    env: dict[str, str]
    services: list[svc.Service]  # what `services up` was given (its home: home / "services")
    started: list[svc.ServiceState]  # what it reported once up
    flow_runs: dict[str, Any] = field(default_factory=dict)  # deployment name -> finished flow run


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    home = Path(tempfile.mkdtemp(prefix="tt-e2e-", dir="/tmp"))
    prefect_port, mlflow_port, dashboard_port = free_ports(3)
    api = f"http://127.0.0.1:{prefect_port}/api"
    env = {
        "PREFECT_HOME": str(home / "prefect-client"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "true",
        "RAY_USAGE_STATS_ENABLED": "0",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "MPLBACKEND": "Agg",
        # what the worker's flow runs read: the pull step's folder, the code, the stores
        "TORCHTRADER_HOME": str(ROOT),
        "PYTHONPATH": str(ROOT),
        "TORCHTRADER_LAKE": str(home / "lake"),
        "TORCHTRADER_MLFLOW_URI": f"http://127.0.0.1:{mlflow_port}",
        "TORCHTRADER_STATE_DB": f"sqlite:///{home / 'state' / 'state.db'}",
        "DASK_LOGGING__DISTRIBUTED": "error",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the services inherit it; so do this process's Prefect and MLflow clients
    planned = svc.plan(
        home / "services",
        mlflow_uri=f"sqlite:///{home / 'mlflow.db'}",
        ports=svc.Ports(prefect_port, mlflow_port, dashboard_port),
        with_dashboard=False,
    )
    try:
        started = svc.up(home / "services", planned, timeout_s=240)
        (home / "state").mkdir()
        subprocess.run(
            [str(BIN / "torchtrader"), "bot", "create", "paper-btc", "--strategy", "sma_cross",
             "--param", "fast=2", "--param", "slow=5", "--symbol", "BTC/USDT", "--timeframe", "1h",
             "--capital", "10000"],
            check=True, env=os.environ.copy(), capture_output=True, cwd=ROOT,
        )  # fmt: skip
        names = [arg for name in DEPLOYED for arg in ("--name", name)]
        deployed = subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml",
             *names],
            env=os.environ.copy(), capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        yield Stack(home, api, f"http://127.0.0.1:{mlflow_port}", env, planned, started)
        # `make down`: stops exactly what `up` started, by pid, and each of them is gone
        stopped = svc.down(home / "services")
        assert sorted(stopped) == ["mlflow", "prefect", "worker"], stopped
        assert all(_dead(state.pid) for state in started if state.pid), started
        assert svc.down(home / "services") == []
    finally:
        svc.down(home / "services")  # a no-op once the checks above ran
        shutil.rmtree(home, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Tiny parameters: the point is the wiring, not the research. Ingest runs first (the others read it).
INGEST = (
    "ingest/ingest-sample-daily",
    {"request": {"source": "sample", "symbols": ["SPX"], "timeframe": "1d"}},
)
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "backtests-daily": (
        "backtest/backtests-daily",
        {"request": {"symbols": ["SPX"], "strategies": ["sma_cross", "ema_cross"],
                     "dask": {"workers": 1, "processes": False}}},
    ),
    "tune-weekly": (
        "tune/tune-weekly",
        {"request": {"symbols": ["SPX"], "strategy": "sma_cross", "search": "random", "samples": 6}},
    ),
    "bot-paper-btc": ("bot-cycle/bot-paper-btc", {}),
}  # fmt: skip


def prefect_client(stack: Stack) -> Any:
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(stack.prefect_api)


def trigger(stack: Stack, deployment: str, parameters: dict[str, Any]) -> Any:
    with prefect_client(stack) as client:
        found = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(found.id, parameters=parameters or None).id


def wait_final(stack: Stack, flow_run_ids: dict[str, Any], timeout_s: float = 480) -> dict[str, Any]:
    done: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    with prefect_client(stack) as client:
        while len(done) < len(flow_run_ids) and time.monotonic() < deadline:
            for name, run_id in flow_run_ids.items():
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    done[name] = run
            time.sleep(1)
    missing = set(flow_run_ids) - set(done)
    assert not missing, f"still not finished after {timeout_s} s: {missing}"
    return done


def artifacts_of(stack: Stack, flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with prefect_client(stack) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found if a.key}


def table_of(artifact: Any) -> list[dict[str, Any]]:
    return json.loads(artifact.data) if isinstance(artifact.data, str) else list(artifact.data)


@pytest.fixture(scope="package")
def finished(stack: Stack) -> dict[str, Any]:
    """The ingest, backtest, tune and bot deployments triggered through the API and run to the end."""
    runs = wait_final(stack, {"ingest-sample-daily": trigger(stack, *INGEST)})
    runs |= wait_final(stack, {name: trigger(stack, d, params) for name, (d, params) in RUNS.items()})
    stack.flow_runs.update(runs)
    return runs
