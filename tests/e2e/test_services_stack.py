"""`torchtrader services up` (make up) on the package's stack: Prefect, a process worker and MLflow
healthy on loopback, the worker registered in its pool, and a second ``up`` leaving every process
alone. ``down`` (make down) is checked where the stack is stopped (tests/e2e/conftest.py): exactly
the three services it started, each gone, and nothing left for a second call."""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.conftest import Stack
from torchtrader.ops import services as svc

pytestmark = pytest.mark.slow


def test_up_is_healthy_registers_the_worker_and_is_idempotent(stack: Stack) -> None:
    home = stack.home / "services"
    states = {state.name: state for state in stack.started}
    assert sorted(states) == ["mlflow", "prefect", "worker"]
    assert all(state.running and state.pid for state in states.values()), states
    assert requests.get(f"{stack.prefect_api}/health", timeout=5).status_code == 200
    assert requests.get(f"{stack.mlflow_url}/health", timeout=5).status_code == 200
    # the worker registered itself in the process pool it serves
    deadline = time.monotonic() + 60
    workers: list[object] = []
    while not workers and time.monotonic() < deadline:
        response = requests.post(
            f"{stack.prefect_api}/work_pools/{svc.WORK_POOL}/workers/filter", json={}, timeout=5
        )
        workers = response.json() if response.status_code == 200 else []
        if not workers:
            time.sleep(1)
    assert workers, "the process worker never registered with the server"
    assert (home / "logs" / "prefect.log").exists() and (home / "pids" / "mlflow.json").exists()

    again = {state.name: state for state in svc.up(home, stack.services, timeout_s=60)}
    assert {name: state.pid for name, state in again.items()} == {n: s.pid for n, s in states.items()}
