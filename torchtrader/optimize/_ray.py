"""Ray plumbing for tunes: connecting (local Ray by default, or a cluster address), trial resources,
and the driver-side callback that collects every trial's batch and logs it as a nested MLflow run."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ray.tune import Callback

from torchtrader.errors import ConfigError

logger = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 5.0


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Ray for the block: the caller's if already initialised, else ``address`` (None = a local Ray,
    shut down afterwards). An unreachable address is a one-line ConfigError before anything starts."""
    import ray

    if address and address != "auto":
        check_ray_address(address)
    if ray.is_initialized():
        yield
        return
    try:
        # "local", not None: None would join whatever cluster /tmp/ray last recorded (a stale
        # `ray start --head` of someone else's) instead of the private Ray the caller asked for
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot connect to Ray at {address or 'local'}: {first}") from None
    try:
        yield
    finally:
        ray.shutdown()


def check_ray_address(address: str) -> None:
    """Refuse an address nothing listens on (Ray itself would retry for a long time)."""
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if parsed.scheme not in ("ray", "rays"):
        raise ConfigError(f"bad --ray-address {address!r}: use host:port, ray://host:port or auto")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError(f"bad --ray-address {address!r}: use host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise ConfigError(
            f"cannot reach Ray at {address} ({error.strerror or type(error).__name__}): start the "
            "cluster or fix --ray-address / TORCHTRADER_RAY_ADDRESS"
        ) from None


def trial_resources(device: str) -> dict[str, float]:
    """One CPU per trial; a whole GPU too when the run may use one and the cluster has one (asking for
    a GPU that does not exist would leave trials pending forever)."""
    import ray

    gpus = float(ray.cluster_resources().get("GPU", 0.0))  # type: ignore[no-untyped-call]
    if device != "cpu" and gpus >= 1:
        return {"cpu": 1.0, "gpu": 1.0}
    return {"cpu": 1.0}


def concurrency(resources: dict[str, float]) -> int:
    """How many trials the cluster runs at once with ``resources`` each."""
    import ray

    total = ray.cluster_resources()  # type: ignore[no-untyped-call]
    fits = [int(total.get(key.upper(), 0.0) // amount) for key, amount in resources.items() if amount]
    return max(1, min(fits) if fits else 1)


@dataclass
class TrialRecord:
    """One finished trial: its config (batch) and what it reported."""

    trial_id: str
    index: int
    config: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None = None


@dataclass
class Collector(Callback):
    """Keeps each trial's reported batch (driver side) and optionally logs it as a nested run."""

    on_record: Any = None  # Callable[[TrialRecord], None] | None
    records: list[TrialRecord] = field(default_factory=list)
    _results: dict[str, dict[str, Any]] = field(default_factory=dict)
    _order: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._order.setdefault(trial.trial_id, len(self._order))

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        self._results[trial.trial_id] = dict(result)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._record(trial, None)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._record(trial, _error_text(trial))

    def _record(self, trial: Any, error: str | None) -> None:
        record = TrialRecord(
            trial_id=trial.trial_id,
            index=self._order.setdefault(trial.trial_id, len(self._order)),
            config=dict(trial.config),
            result=self._results.pop(trial.trial_id, None),
            error=error,
        )
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)


def _error_text(trial: Any) -> str:
    error = getattr(trial, "error_file", None)
    message = ""
    if error:
        try:
            with open(error, encoding="utf-8") as handle:
                lines = [line.strip() for line in handle.read().splitlines() if line.strip()]
            message = lines[-1] if lines else ""
        except OSError:
            message = ""
    return message or f"trial {trial.trial_id} failed"


def now_ms() -> int:
    return int(time.time() * 1000)
