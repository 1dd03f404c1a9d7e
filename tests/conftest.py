"""Suite-wide hygiene: no network telemetry, temp homes for every tool, numpy errors raise."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Properties run the same examples on every machine: CI failures reproduce, and a noisy 2-core box
# never turns example generation time into a failure.
settings.register_profile("torchtrader", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "torchtrader"))

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="torchtrader-tests-"))
for _key, _value in {
    "PREFECT_HOME": str(_SESSION_HOME / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
    "DO_NOT_TRACK": "true",
    "MPLBACKEND": "Agg",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "TORCHTRADER_CONFIG": str(_SESSION_HOME / "absent.toml"),
}.items():
    os.environ[_key] = _value
for _key in [k for k in os.environ if k.startswith("TORCHTRADER_") and k != "TORCHTRADER_CONFIG"]:
    del os.environ[_key]


@pytest.fixture
def lake_uri(tmp_path: Path) -> str:
    """A fresh, empty local lake root for one test."""
    return str(tmp_path / "lake")


@dataclass(frozen=True)
class CliRun:
    """What one `torchtrader …` invocation did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """The real console entry point in-process (the installed script's error handling), on a lake:
    ``run_cli(lake_uri, "data", "list", "--json")``."""
    from torchtrader.cli import main

    def run(lake: str, *args: str) -> CliRun:
        capsys.readouterr()
        try:
            main(["--lake", lake, *args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """ONE local Ray for the whole session (≈4 s start): two CPUs, no dashboard, its own temp dir.
    Tests that need a Ray *cluster address* start ``ray start --head`` themselves."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024 * 1024,
        _temp_dir=tempfile.mkdtemp(prefix="ray-", dir="/tmp"),
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def _mlflow_template_db() -> Path:
    """A migrated MLflow SQLite DB, made once per session (a fresh one runs every migration)."""
    import mlflow

    path = _SESSION_HOME / "mlflow-template" / "mlflow.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_uri(tmp_path: Path, _mlflow_template_db: Path) -> str:
    """An absolute ``sqlite:///`` tracking URI of a fresh, already-migrated MLflow DB for one test;
    artifacts go beside it (``tmp_path / "mlartifacts"``)."""
    import shutil

    target = tmp_path / "mlflow.db"
    shutil.copyfile(_mlflow_template_db, target)
    return f"sqlite:///{target}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Prefect-layer tests run last. Their session-scoped harness keeps a real API server thread
    alive until the session ends, and that thread's use of the global ``random`` module trips
    Hypothesis' determinism checks in any property test that would run after it."""
    # The end-to-end and hybrid packages run Prefect clients (and a harness) in this process too.
    last = [Path(__file__).parent / name for name in ("e2e", "hybrid", "flows")]
    items.sort(key=lambda item: any(folder in item.path.parents for folder in last))
