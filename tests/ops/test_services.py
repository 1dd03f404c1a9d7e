"""`torchtrader services up|down` (make up / make down): clean failures — a busy port, a service that
never becomes healthy, a pid that is not ours, clashing ports. The real servers (Prefect, a process
worker and MLflow on loopback: healthy, idempotent, stopped by pid) are checked on the one stack the
end-to-end tests start (tests/e2e/test_services_stack.py and the stack's teardown)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from torchtrader.ops import services as svc
from torchtrader.testing.net import free_ports


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


def test_services_that_need_each_other_are_refused_and_nothing_is_started(tmp_path: Path) -> None:
    home = tmp_path / "services"
    sleep = (sys.executable, "-c", "import time; time.sleep(120)")
    first = svc.Service("first", sleep, None, None, needs=("second",))
    second = svc.Service("second", sleep, None, None, needs=("first",))
    with pytest.raises(svc.ServiceError, match="services that need each other: first, second"):
        svc.up(home, [first, second], timeout_s=10)
    assert list((home / "pids").glob("*.json")) == []
