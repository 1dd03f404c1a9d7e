"""`torchtrader doctor`: each check tells the truth about a real part, and every failure names its fix."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from torchtrader.config import load_settings
from torchtrader.ops.doctor import run_checks
from torchtrader.ops.doctor_state import state_checks
from torchtrader.testing.net import free_port


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback server answering ``GET /api/health`` with 200, like a Prefect server does."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings_env(tmp_path: Path, lake_uri: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCHTRADER_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("TORCHTRADER_STATE_DB", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return tmp_path


def _by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in document["checks"]}


def test_a_fresh_local_install_is_healthy_but_says_the_lake_is_empty(
    settings_env: Path, lake_uri: str, run_cli: Callable[..., Any]
) -> None:
    result = run_cli(lake_uri, "doctor", "--json", "-")
    assert result.code == 0, result.err
    checks = _by_name(result.json())
    assert result.json()["ok"] is True
    assert checks["lake"]["status"] == "warn"
    assert checks["lake"]["fix"] == "torchtrader ingest sample"
    assert checks["prefect"]["status"] == "ok" and "ephemeral" in checks["prefect"]["detail"]
    assert checks["state_db"]["status"] == "ok" and "not created yet" in checks["state_db"]["detail"]
    assert {"versions", "gpu", "disk", "mlflow", "dask", "ray", "bots"} <= set(checks)


def test_lake_with_bars_reports_its_version_and_series(
    settings_env: Path, lake_uri: str, run_cli: Callable[..., Any]
) -> None:
    ingest = run_cli(
        lake_uri,
        "ingest",
        "synthetic",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-03",
    )
    assert ingest.code == 0, ingest.err
    from torchtrader.lake import Lake

    checks = _by_name(run_cli(lake_uri, "doctor", "--json", "-").json())
    assert checks["lake"]["status"] == "ok"
    assert f"bars v{Lake(lake_uri).version('bars')}, 1 series" in checks["lake"]["detail"]


def test_unreachable_services_fail_with_their_fix_and_exit_1(
    settings_env: Path, lake_uri: str, run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = free_port()
    monkeypatch.setenv("TORCHTRADER_MLFLOW_URI", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("TORCHTRADER_DASK_ADDRESS", f"tcp://127.0.0.1:{dead}")
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{dead}/api")
    result = run_cli(lake_uri, "doctor", "--json", "-")
    assert result.code == 1
    checks = _by_name(result.json())
    assert result.json()["ok"] is False
    for name, fix in (("mlflow", "make up"), ("prefect", "make up"), ("dask", "start the scheduler")):
        assert checks[name]["status"] == "fail", checks[name]
        assert checks[name]["fix"].startswith(fix)
        assert str(dead) in checks[name]["detail"]


def test_a_healthy_prefect_server_passes(
    settings_env: Path, lake_uri: str, health_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", health_server)
    checks = {check.name: check for check in run_checks(load_settings(lake=lake_uri)).checks}
    assert checks["prefect"].status == "ok"
    assert checks["prefect"].detail == f"{health_server}/health healthy"


def test_state_db_behind_or_ahead_of_the_code_names_the_fix(settings_env: Path, lake_uri: str) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from torchtrader.bots.store.schema import alembic_config, head_revision, make_engine, upgrade

    url = f"sqlite:///{settings_env / 'state.db'}"
    first = ScriptDirectory.from_config(alembic_config(url)).get_base()
    assert first is not None and first != head_revision(), "needs at least two migrations"
    upgrade(url, revision=first)
    settings = load_settings(lake=lake_uri)
    behind = {c.name: c for c in run_checks(settings, extra=state_checks()).checks}["state_db"]
    assert (behind.status, behind.fix) == ("fail", "torchtrader db upgrade")

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'r9999_future'"))
    engine.dispose()
    ahead = {c.name: c for c in run_checks(settings, extra=state_checks()).checks}["state_db"]
    assert (ahead.status, ahead.fix) == ("fail", "upgrade torchtrader")


def test_a_halted_bot_is_a_warning_with_the_commands_to_look_and_resume(
    settings_env: Path, lake_uri: str
) -> None:
    from torchtrader.bots.store.store import StateStore

    url = f"sqlite:///{settings_env / 'state.db'}"
    store = StateStore(url)
    store.ensure_bot("alpha", broker="paper", capital=10_000.0, config={})
    store.ensure_bot("beta", broker="paper", capital=10_000.0, config={})
    store.set_state("beta", "halted", "max drawdown 12% >= 10%")
    store.close()
    checks = {c.name: c for c in run_checks(load_settings(lake=lake_uri), extra=state_checks()).checks}
    assert checks["state_db"].status == "ok"
    assert checks["bots"].status == "warn"
    assert "beta=halted" in checks["bots"].detail and "max drawdown" in checks["bots"].detail
    assert checks["bots"].fix == "torchtrader bot status beta; bot resume beta"
