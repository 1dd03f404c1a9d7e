"""Local services with one command: a Prefect server, a process work-pool worker, an MLflow server and
(when installed) the dashboard — all on 127.0.0.1, their state, logs and pid files under one folder.

``up`` is idempotent: a service whose pid file names a live process of ours that answers its health
check is left alone. ``down`` stops exactly what ``up`` started (pid files, process groups), never
anything else. A port held by another program, or a service that never becomes healthy, is a
one-line error naming it and its log; whatever that call had started is stopped again.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torchtrader.errors import ConfigError, TorchTraderError

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
WORK_POOL = "local-process"
_QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
}


# Children started by this process: kept so they are reaped (``poll``) rather than garbage-collected
# while running, and so a ``down`` in the same process waits on them properly.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ServiceError(TorchTraderError):
    """A local service that cannot start, or a port that is not ours."""


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    port: int | None
    health_url: str | None
    env: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ports:
    prefect: int = 4200
    mlflow: int = 5000
    dashboard: int = 8050


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    running: bool
    url: str | None
    log: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "running": self.running, "url": self.url, "log": self.log}


def plan(
    home: Path, *, mlflow_uri: str, ports: Ports = Ports(), with_dashboard: bool | None = None
) -> list[Service]:
    """The services ``up`` starts, in order (the worker needs the server)."""
    home = home.resolve()
    bin_dir = Path(sys.executable).parent
    api = f"http://{HOST}:{ports.prefect}/api"
    prefect_env = {"PREFECT_HOME": str(home / "prefect"), **_QUIET_ENV}
    backend = (
        mlflow_uri
        if mlflow_uri.startswith(("sqlite:///", "postgresql"))
        else f"sqlite:///{home / 'mlflow.db'}"
    )
    services = [
        Service(
            "prefect",
            (str(bin_dir / "prefect"), "server", "start", "--host", HOST, "--port", str(ports.prefect)),
            ports.prefect,
            f"{api}/health",
            # Without it the UI keeps calling :4200 on any other port (STACK-NOTES).
            {**prefect_env, "PREFECT_UI_API_URL": api, "PREFECT_SERVER_API_HOST": HOST},
        ),
        Service(
            "worker",
            (str(bin_dir / "prefect"), "worker", "start", "--pool", WORK_POOL, "--type", "process"),
            None,
            None,
            {**prefect_env, "PREFECT_API_URL": api},
            needs=("prefect",),
        ),
        Service(
            "mlflow",
            (
                str(bin_dir / "mlflow"),
                "server",
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(home / "mlartifacts"),
                "--host",
                HOST,
                "--port",
                str(ports.mlflow),
            ),
            ports.mlflow,
            f"http://{HOST}:{ports.mlflow}/health",
            dict(_QUIET_ENV),
        ),
    ]
    if with_dashboard is None:
        import importlib.util

        with_dashboard = importlib.util.find_spec("torchtrader.ui") is not None
    if with_dashboard:
        services.append(
            Service(
                "dashboard",
                (str(bin_dir / "torchtrader"), "ui", "--host", HOST, "--port", str(ports.dashboard)),
                ports.dashboard,
                f"http://{HOST}:{ports.dashboard}/healthz",
                dict(_QUIET_ENV),
            )
        )
    return services


def up(home: Path, services: Sequence[Service], *, timeout_s: float = 180.0) -> list[ServiceState]:
    """Start every service not already running and healthy; wait until each is healthy.

    Services start in waves: each service whose ``needs`` are healthy starts together with the others
    that can (the Prefect server and MLflow, then the worker), and a wave is waited on as a whole.
    """
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "pids").mkdir(parents=True, exist_ok=True)
    started: list[Service] = []
    names = {service.name for service in services}
    healthy: set[str] = set()
    remaining = list(services)
    try:
        while remaining:
            wave = [s for s in remaining if all(n in healthy or n not in names for n in s.needs)]
            if not wave:
                raise ServiceError(f"services that need each other: {', '.join(s.name for s in remaining)}")
            for service in wave:
                if _ours_and_alive(home, service) is not None:
                    continue
                if service.port is not None and _port_taken(service.port):
                    raise ServiceError(
                        f"port {service.port} for {service.name} is in use by another program: stop it or "
                        f"pick another port (--{service.name}-port)"
                    )
                _start(home, service)
                started.append(service)
            _wait_healthy(home, wave, timeout_s)
            healthy.update(service.name for service in wave)
            remaining = [service for service in remaining if service.name not in healthy]
    except BaseException:
        _stop_all(home, [service.name for service in reversed(started)])
        raise
    return status(home, services)


def down(home: Path) -> list[str]:
    """Stop every service whose pid file is under ``home`` (all at once); returns their names."""
    pid_files = sorted((home / "pids").glob("*.json")) if (home / "pids").exists() else []
    return _stop_all(home, [pid_file.stem for pid_file in pid_files])


def status(home: Path, services: Sequence[Service]) -> list[ServiceState]:
    states = []
    for service in services:
        pid = _ours_and_alive(home, service)
        url = service.health_url.rsplit("/", 1)[0] if service.health_url else None
        if service.name == "prefect" and url:
            url = url.removesuffix("/api")
        states.append(
            ServiceState(service.name, pid, pid is not None, url, str(_log_path(home, service.name)))
        )
    return states


def _log_path(home: Path, name: str) -> Path:
    return home / "logs" / f"{name}.log"


def _pid_path(home: Path, name: str) -> Path:
    return home / "pids" / f"{name}.json"


def _start(home: Path, service: Service) -> None:
    log = _log_path(home, service.name).open("ab")
    env = {**os.environ, **service.env}
    try:
        process = subprocess.Popen(
            service.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=home,
        )
    except FileNotFoundError:
        raise ServiceError(f"{service.name}: {service.argv[0]} not found: run `make install`") from None
    finally:
        log.close()
    _CHILDREN[process.pid] = process
    _pid_path(home, service.name).write_text(
        json.dumps({"pid": process.pid, "argv": list(service.argv), "started": time.time()}), encoding="utf-8"
    )
    logger.info("started %s (pid %d)", service.name, process.pid)


def _recorded(home: Path, name: str) -> dict[str, object] | None:
    path = _pid_path(home, name)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_our_process(pid: int, argv: Sequence[str]) -> bool:
    """The pid is alive and still runs the command we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.decode(errors="replace").endswith(Path(argv[0]).name) for part in cmdline[:3]) and all(
        arg.encode() in cmdline for arg in argv[1:3]
    )


def _ours_and_alive(home: Path, service: Service) -> int | None:
    record = _recorded(home, service.name)
    if record is None:
        return None
    pid, argv = record.get("pid"), record.get("argv")
    if isinstance(pid, int) and pid in _CHILDREN:
        # started by this process: its Popen knows (its cmdline may still be ours before exec)
        if _alive(pid):
            return pid
    elif isinstance(pid, int) and isinstance(argv, list) and _is_our_process(pid, [str(a) for a in argv]):
        return pid
    _pid_path(home, service.name).unlink(missing_ok=True)
    return None


def _stop_all(home: Path, names: Sequence[str]) -> list[str]:
    """Stop the named services of ours: SIGTERM to every process group at once, then wait for them
    together (SIGKILL to those still alive after 15 s). Returns the names of those stopped, in order."""
    pids: dict[str, int] = {}
    for name in names:
        record = _recorded(home, name)
        _pid_path(home, name).unlink(missing_ok=True)
        if record is None:
            continue
        pid, argv = record.get("pid"), record.get("argv")
        ours = isinstance(pid, int) and (
            pid in _CHILDREN or (isinstance(argv, list) and _is_our_process(pid, [str(a) for a in argv]))
        )
        if ours and isinstance(pid, int):
            pids[name] = pid
    gone: set[str] = set()
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        for name in [n for n in pids if n not in gone]:
            try:
                os.killpg(pids[name], sig)
            except ProcessLookupError:
                gone.add(name)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            gone.update(name for name, pid in pids.items() if name not in gone and not _alive(pid))
            if len(gone) == len(pids):
                break
            time.sleep(0.1)
        if len(gone) == len(pids):
            break
    return [name for name in names if name in gone or (name in pids and not _alive(pids[name]))]


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (
        Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[-1][:1] if Path(f"/proc/{pid}").exists() else "X"
    )
    return state not in {"Z", "X"}


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def _wait_healthy(home: Path, services: Sequence[Service], timeout_s: float) -> None:
    """Wait until every one of ``services`` answers its health check (one without a health URL: is
    alive after a settling period); a service that exits or stays unhealthy is a ServiceError."""
    import requests

    deadline = time.monotonic() + timeout_s
    settle_until = time.monotonic() + 3.0
    pending = list(services)
    while True:
        for service in list(pending):
            if _ours_and_alive(home, service) is None:
                tail = _tail(_log_path(home, service.name))
                raise ServiceError(
                    f"{service.name} exited during start-up: {tail} (log: {_log_path(home, service.name)})"
                )
            if service.health_url is None:
                if time.monotonic() >= settle_until:
                    pending.remove(service)
                continue
            try:
                if requests.get(service.health_url, timeout=2).status_code < 400:
                    pending.remove(service)
            except requests.RequestException:
                pass
        if not pending:
            return
        if time.monotonic() >= deadline:
            service = pending[0]
            raise ServiceError(
                f"{service.name} did not become healthy within {timeout_s:.0f} s at {service.health_url}: "
                f"see {_log_path(home, service.name)}"
            )
        time.sleep(0.25)


def _tail(path: Path) -> str:
    try:
        lines = [
            line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
    except OSError:
        return "no log"
    return lines[-1][-200:] if lines else "empty log"


def check_ports(ports: Ports) -> None:
    values = [ports.prefect, ports.mlflow, ports.dashboard]
    if len(set(values)) != len(values):
        raise ConfigError(f"service ports must differ: {values}")
    for value in values:
        if not 1 <= value <= 65535:
            raise ConfigError(f"port {value} is outside 1-65535")
