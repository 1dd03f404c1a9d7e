"""MLflow runs that always end: FINISHED, or FAILED with the reason, never left RUNNING.

Everything goes through ``MlflowClient`` with an explicit tracking URI (no fluent global state), so
several runs can be open at once (a parent and its nested trial runs) and a Ray worker's working
directory never matters. Nested runs carry MLflow's own ``mlflow.parentRunId`` tag, which the UI uses
to fold them under their parent (Ray's MLflow callbacks do not nest: ray-project/ray#19978).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from torchtrader.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"
FAILURE_TAG = "failure_reason"
_MAX_PARAM_CHARS = 6000  # MLflow's limit on one param value
_MAX_REASON_CHARS = 500
_BATCH = 100  # log_batch accepts at most 100 params / 1000 metrics per call


class TrackedRun:
    """One open MLflow run: metrics, params, tags and artifacts, all logged through one client."""

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        experiment_id: str,
        experiment: str = "",
        tracking_uri: str = "",
    ) -> None:
        self._client = client
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.experiment_name = experiment

    def log_metrics(self, metrics: Mapping[str, float | int | None], step: int | None = None) -> None:
        """Numbers by name; None and non-numbers are skipped (an undefined metric is not a zero)."""
        entries = _metric_entries(metrics, step)
        for start in range(0, len(entries), 1000):
            self._client.log_batch(self.run_id, metrics=entries[start : start + 1000])

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params as text (JSON for structures), cut to MLflow's length limit."""
        entries = _param_entries(params)
        for start in range(0, len(entries), _BATCH):
            self._client.log_batch(self.run_id, params=entries[start : start + _BATCH])

    def log_nested(
        self,
        *,
        run_name: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        metrics: Mapping[str, float | int | None],
        start_time_ms: int | None = None,
        failure: str | None = None,
    ) -> str:
        """A finished child run logged after the fact in three store calls (create with its tags, one
        batch of params and metrics, terminate) through this run's client and experiment: a tune logs
        one per trial, so no client, experiment lookup or call per metric is repeated. ``failure``
        ends it FAILED with that reason. Returns its id."""
        run_tags = {**{str(k): str(v) for k, v in tags.items()}, PARENT_TAG: self.run_id}
        if failure is not None:
            run_tags[FAILURE_TAG] = failure[:_MAX_REASON_CHARS]
        run = self._client.create_run(
            self.experiment_id, start_time=start_time_ms, tags=run_tags, run_name=run_name
        )
        child = str(run.info.run_id)
        param_entries, metric_entries = _param_entries(params), _metric_entries(metrics)
        if len(param_entries) <= _BATCH and len(metric_entries) <= 1000:
            self._client.log_batch(child, metrics=metric_entries, params=param_entries)
        else:
            nested = TrackedRun(self._client, child, self.experiment_id, self.experiment_name)
            nested.log_params(params)
            nested.log_metrics(metrics)
        _finish(self._client, child, "FAILED" if failure is not None else "FINISHED")
        return child

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        entries = [RunTag(name, _text(value)) for name, value in tags.items()]
        for start in range(0, len(entries), _BATCH):
            self._client.log_batch(self.run_id, tags=entries[start : start + _BATCH])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(self.run_id, str(path), artifact_path)

    def log_text(self, text: str, name: str) -> None:
        self._client.log_text(self.run_id, text, name)

    def log_frame(self, frame: pl.DataFrame, name: str) -> None:
        """``frame`` as the Parquet artifact ``name`` (``.parquet`` added when missing)."""
        filename = name if name.endswith(".parquet") else f"{name}.parquet"
        with tempfile.TemporaryDirectory(prefix="tt-frame-") as folder:
            path = Path(folder) / Path(filename).name
            frame.write_parquet(path)
            parent = str(Path(filename).parent)
            self._client.log_artifact(self.run_id, str(path), None if parent == "." else parent)


@contextmanager
def tracked_run(
    tracking_uri: str,
    experiment: str,
    *,
    run_name: str,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    start_time_ms: int | None = None,
) -> Iterator[TrackedRun]:
    """A run of ``experiment`` (created if missing) for the ``with`` block.

    Ends FINISHED; when the block raises, ends FAILED with a one-line ``failure_reason`` tag (KILLED
    for Ctrl-C) and re-raises. ``parent_run_id`` nests the run under that one.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = ensure_experiment(client, tracking_uri, experiment)
    run_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    if parent_run_id:
        run_tags[PARENT_TAG] = parent_run_id
    run = client.create_run(experiment_id, start_time=start_time_ms, tags=run_tags, run_name=run_name)
    tracked = TrackedRun(client, run.info.run_id, experiment_id, experiment, tracking_uri)
    try:
        if params:
            tracked.log_params(params)
        yield tracked
    except BaseException as error:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        _finish(client, tracked.run_id, status, reason=failure_reason(error))
        raise
    _finish(client, tracked.run_id, "FINISHED")


def end_run(tracking_uri: str, run_id: str, status: str, *, reason: str | None = None) -> None:
    """Close a run opened elsewhere (a trial run logged after the fact)."""
    from mlflow import MlflowClient

    _finish(MlflowClient(tracking_uri=tracking_uri), run_id, status, reason=reason)


def failure_reason(error: BaseException) -> str:
    """One line: the exception type and the first line of its message."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:_MAX_REASON_CHARS]


def _finish(client: MlflowClient, run_id: str, status: str, *, reason: str | None = None) -> None:
    # Closing must not mask the block's own error: a tracking server that died meanwhile is logged.
    try:
        if reason is not None:
            client.set_tag(run_id, FAILURE_TAG, reason)
        # An http store prints the run's UI link on stdout, which belongs to `--json -`: stderr then.
        with contextlib.redirect_stdout(sys.stderr):
            client.set_terminated(run_id, status, end_time=_now_ms())
    except Exception:
        if status == "FINISHED":
            raise
        logger.exception("could not mark MLflow run %s %s", run_id, status)


def ensure_experiment(client: MlflowClient, tracking_uri: str, name: str) -> str:
    """The id of experiment ``name``, created (artifacts beside a SQLite DB) when missing."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise ConfigError(
                f"MLflow experiment {name!r} is deleted: restore it or pick another --experiment"
            )
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location(tracking_uri, name)))
    except MlflowException:
        # Another process created it between the lookup and the create.
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """``<db folder>/mlartifacts/<experiment>`` for a SQLite store; None (the server's choice) else."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///")).expanduser().resolve()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", experiment).strip("-") or "default"
    return (database.parent / "mlartifacts" / safe).as_uri()


def check_tracking_uri(uri: str, *, timeout_s: float = 5.0) -> None:
    """Refuse, in one line, a tracking URI that cannot work: an unreachable http(s) server, a relative
    SQLite path (Ray trials change directory) or the refused ``./mlruns`` file store."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        import requests

        try:
            response = requests.get(uri.rstrip("/") + "/health", timeout=timeout_s)
        except requests.RequestException as error:
            raise ConfigError(
                f"cannot reach the MLflow server at {uri} ({type(error).__name__}): start it or fix "
                "--mlflow-uri / TORCHTRADER_MLFLOW_URI"
            ) from None
        if response.status_code != 200:
            raise ConfigError(
                f"MLflow server at {uri} answered {response.status_code} on /health: check the address"
            )
        return
    if scheme == "sqlite":
        if not uri.startswith("sqlite:////") and uri != "sqlite:///:memory:":
            raise ConfigError(f"MLflow URI {uri!r} is relative: use sqlite:////absolute/path/mlflow.db")
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise ConfigError(f"MLflow database folder {folder} does not exist: create it or fix the URI")
        return
    if scheme in ("", "file"):
        raise ConfigError(
            f"MLflow URI {uri!r} is a file store, which MLflow 3 refuses: use sqlite:////abs/mlflow.db"
        )


def _metric_entries(metrics: Mapping[str, float | int | None], step: int | None = None) -> list[Any]:
    from mlflow.entities import Metric

    now = _now_ms()
    return [
        Metric(key=_key(name), value=float(value), timestamp=now, step=step or 0)
        for name, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _param_entries(params: Mapping[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(_key(name), _text(value)[:_MAX_PARAM_CHARS]) for name, value in params.items()]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _key(name: str) -> str:
    # MLflow keys allow alphanumerics, _ - . / and spaces; anything else would be refused.
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def _now_ms() -> int:
    return int(time.time() * 1000)
