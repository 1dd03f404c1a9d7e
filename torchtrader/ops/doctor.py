"""`torchtrader doctor`: what is installed, what is reachable, what is broken — and the command that
fixes each broken thing.

Every check is a small function returning a ``Check``; none raises (a check that cannot run reports
``fail`` with the reason), so one broken part never hides the state of the others. Network checks use
short timeouts and only the addresses the settings name.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from torchtrader.config import Settings

logger = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]
_PACKAGES = ("torchtrader", "torch", "prefect", "mlflow", "ray", "dask", "polars", "deltalake", "ccxt")
_DISK_WARN_BYTES = 5 * 2**30
_DISK_FAIL_BYTES = 1 * 2**30
_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.to_json() for check in self.checks]}


def run_checks(settings: Settings, *, extra: Sequence[Callable[[Settings], Check]] = ()) -> DoctorReport:
    """Every check, in a fixed order; ``extra`` checks (e.g. the bot state store) run last."""
    checks: list[Check] = []
    for check in (versions, gpu, lake, disk, mlflow, prefect, dask, ray, *extra):
        try:
            checks.append(check(settings))
        except Exception as error:  # a check must never take the others down with it
            logger.debug("check %s crashed", check.__name__, exc_info=True)
            checks.append(Check(check.__name__, "fail", f"the check itself failed: {error}"))
    return DoctorReport(tuple(checks))


def versions(settings: Settings) -> Check:
    found = []
    for package in _PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} missing")
    missing = [entry for entry in found if entry.endswith("missing")]
    detail = f"python {platform.python_version()}; " + ", ".join(found)
    if missing:
        return Check("versions", "fail", detail, "make install (or pip install -e .)")
    return Check("versions", "ok", detail)


def gpu(settings: Settings) -> Check:
    import torch

    if not torch.cuda.is_available():
        return Check("gpu", "ok", f"no CUDA device: CPU mode (torch {torch.__version__})")
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return Check("gpu", "ok", f"CUDA {torch.version.cuda}: {names}")


def lake(settings: Settings) -> Check:
    from torchtrader.lake import Lake

    try:
        store = Lake.from_settings(settings)
        tables = store.tables()
        if "bars" not in tables:
            return Check("lake", "warn", f"{settings.lake}: no bars yet", "torchtrader ingest sample")
        from torchtrader.lake.migrations import schema_status

        schema = schema_status(store)
        if schema.pending:
            return Check(
                "lake",
                "warn",
                f"{settings.lake}: schema v{schema.version}, this torchtrader writes v{schema.current}",
                "torchtrader lake upgrade",
            )
        series = store.series()
    except Exception as error:
        return Check(
            "lake",
            "fail",
            f"{settings.lake} is not readable: {error}",
            "check --lake / TORCHTRADER_LAKE and its storage options",
        )
    return Check(
        "lake",
        "ok",
        f"{settings.lake}: bars v{store.version('bars')}, {len(series)} series; tables {', '.join(tables)}"
        f"; schema v{schema.version}",
    )


def disk(settings: Settings) -> Check:
    target = Path(settings.lake) if "://" not in settings.lake else Path.cwd()
    while not target.exists() and target != target.parent:
        target = target.parent
    free = shutil.disk_usage(target).free
    detail = f"{free / 2**30:.1f} GiB free at {target}"
    if free < _DISK_FAIL_BYTES:
        return Check("disk", "fail", detail, "free space, or `torchtrader data vacuum` old lake versions")
    if free < _DISK_WARN_BYTES:
        return Check("disk", "warn", detail, "free space soon: lake versions and MLflow artifacts grow")
    return Check("disk", "ok", detail)


def mlflow(settings: Settings) -> Check:
    uri = settings.mlflow_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_absolute():
            return Check("mlflow", "fail", f"{uri} is relative", "use an absolute sqlite:/// path")
        if path.exists():
            return Check("mlflow", "ok", f"{uri} (embedded SQLite store)")
        if os.access(_existing_parent(path), os.W_OK):
            return Check("mlflow", "ok", f"{uri} (created on the first tracked run)")
        return Check(
            "mlflow", "fail", f"{path.parent} is not writable", "point TORCHTRADER_MLFLOW_URI elsewhere"
        )
    if uri.startswith(("http://", "https://")):
        return _http_check("mlflow", uri.rstrip("/") + "/health", "make up (starts an MLflow server)")
    return Check("mlflow", "warn", f"{uri}: not checked (neither sqlite:/// nor http(s)://)")


def prefect(settings: Settings) -> Check:
    # The library never imports prefect: the API address comes from the environment or profile.
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return Check(
            "prefect",
            "ok",
            "no PREFECT_API_URL: flows run on Prefect's ephemeral API (no UI, no schedules)",
            None,
        )
    return _http_check("prefect", url.rstrip("/") + "/health", "make up (starts a Prefect server and worker)")


def dask(settings: Settings) -> Check:
    if not settings.dask_address:
        return Check("dask", "ok", f"LocalCluster with {settings.dask_workers} workers (no address set)")
    return _tcp_check("dask", settings.dask_address, "start the scheduler or fix TORCHTRADER_DASK_ADDRESS")


def ray(settings: Settings) -> Check:
    if not settings.ray_address or settings.ray_address == "auto":
        return Check("ray", "ok", "local Ray (no address set)")
    return _tcp_check("ray", settings.ray_address, "ray start --head, or fix TORCHTRADER_RAY_ADDRESS")


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _http_check(name: str, url: str, fix: str) -> Check:
    import requests

    try:
        response = requests.get(url, timeout=_TIMEOUT_S)
    except requests.RequestException as error:
        return Check(name, "fail", f"{url} unreachable: {type(error).__name__}", fix)
    if response.status_code >= 400:
        return Check(name, "fail", f"{url} answered HTTP {response.status_code}", fix)
    return Check(name, "ok", f"{url} healthy")


def _tcp_check(name: str, address: str, fix: str) -> Check:
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.hostname is None or parsed.port is None:
        return Check(name, "fail", f"{address!r} has no host:port", fix)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=_TIMEOUT_S):
            pass
    except OSError as error:
        return Check(name, "fail", f"{address} unreachable: {error.strerror or error}", fix)
    return Check(name, "ok", f"{address} accepts connections")
