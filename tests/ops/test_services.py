"""`torchtrader services up|down` (make up / make down) against the real servers: Prefect, a process
worker and MLflow on loopback, started once, idempotent, stopped by pid — and clean failures."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
import requests

from torchtrader.ops import services as svc
from torchtrader.testing.net import free_ports


def _dead(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not svc._alive(pid):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_up_is_healthy_idempotent_and_down_stops_exactly_what_it_started(tmp_path: Path) -> None:
    home = tmp_path / "services"
    prefect_port, mlflow_port, dashboard_port = free_ports(3)
    ports = svc.Ports(prefect_port, mlflow_port, dashboard_port)
    planned = svc.plan(
        home, mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", ports=ports, with_dashboard=False
    )
    try:
        states = {state.name: state for state in svc.up(home, planned, timeout_s=240)}
        assert all(state.running for state in states.values()), states
        assert requests.get(f"http://127.0.0.1:{prefect_port}/api/health", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=5).status_code == 200
        # the worker registered itself in the process pool it serves
        deadline = time.monotonic() + 60
        workers: list[object] = []
        while not workers and time.monotonic() < deadline:
            response = requests.post(
                f"http://127.0.0.1:{prefect_port}/api/work_pools/{svc.WORK_POOL}/workers/filter",
                json={},
                timeout=5,
            )
            workers = response.json() if response.status_code == 200 else []
            time.sleep(1)
        assert workers, "the process worker never registered with the server"
        assert (home / "logs" / "prefect.log").exists() and (home / "pids" / "mlflow.json").exists()

        again = {state.name: state for state in svc.up(home, planned, timeout_s=60)}
        assert {name: state.pid for name, state in again.items()} == {n: s.pid for n, s in states.items()}
    finally:
        stopped = svc.down(home)
    assert sorted(stopped) == ["mlflow", "prefect", "worker"]
    assert all(_dead(state.pid) for state in states.values() if state.pid)
    assert svc.down(home) == []


def test_a_port_held_by_another_program_is_refused_and_nothing_is_left_started(tmp_path: Path) -> None:
    home = tmp_path / "services"
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = int(holder.getsockname()[1])
    sleeper = svc.Service("sleeper", (sys.executable, "-c", "import time; time.sleep(120)"), None, None)
    taken = svc.Service(
        "mlflow", (sys.executable, "-m", "http.server", str(busy)), busy, f"http://127.0.0.1:{busy}/"
    )
    try:
        with pytest.raises(svc.ServiceError, match=f"port {busy} for mlflow is in use by another program"):
            svc.up(home, [sleeper, taken], timeout_s=10)
    finally:
        holder.close()
    assert list((home / "pids").glob("*.json")) == [], "the sleeper started first must be stopped again"


def test_a_service_that_never_becomes_healthy_is_named_with_its_log_and_stopped(tmp_path: Path) -> None:
    home = tmp_path / "services"
    (dead_port,) = free_ports(1)
    never = svc.Service(
        "never",
        (sys.executable, "-c", "import time; time.sleep(120)"),
        dead_port,
        f"http://127.0.0.1:{dead_port}/",
    )
    with pytest.raises(svc.ServiceError, match=r"never did not become healthy within 3 s .*never\.log"):
        svc.up(home, [never], timeout_s=3)
    assert list((home / "pids").glob("*.json")) == []


def test_down_never_touches_a_process_it_did_not_start(tmp_path: Path) -> None:
    home = tmp_path / "services"
    (home / "pids").mkdir(parents=True)
    # a pid file naming this very test process with another command line: a reused pid, not ours
    (home / "pids" / "prefect.json").write_text(
        f'{{"pid": {os.getpid()}, "argv": ["/usr/bin/prefect", "server", "start"]}}', encoding="utf-8"
    )
    assert svc.down(home) == []
    assert svc._alive(os.getpid())


def test_clashing_ports_are_a_config_error() -> None:
    from torchtrader.errors import ConfigError

    with pytest.raises(ConfigError, match="service ports must differ"):
        svc.check_ports(svc.Ports(5000, 5000, 8050))
