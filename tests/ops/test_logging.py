"""One logging set-up: plain lines or JSON lines (``--log-json``) on stderr, and a size-rotated file
for ``bot run --loop``; neither ever holds a registered secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from torchtrader.bots.secrets import register_secret
from torchtrader.ops.logging_setup import (
    JsonLinesFormatter,
    add_rotating_log,
    bot_log_path,
    configure_logging,
    json_lines_active,
    remove_log,
)

TORCHTRADER = str(Path(sys.executable).parent / "torchtrader")


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_plain_lines_by_default_and_info_only_when_verbose() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    logging.getLogger("torchtrader.demo").info("hidden")
    logging.getLogger("torchtrader.demo").warning("shown %d", 1)
    assert out.getvalue() == "WARNING torchtrader.demo: shown 1\n"
    configure_logging(verbose=True, stream=out)
    logging.getLogger("torchtrader.demo").info("now shown")
    assert out.getvalue().splitlines()[-1] == "INFO torchtrader.demo: now shown"


def test_configuring_twice_replaces_the_handler_instead_of_doubling_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second, json_lines=True)
    logging.getLogger("x").warning("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    assert json_lines_active()


def test_json_lines_carry_level_logger_message_extras_and_the_traceback() -> None:
    out = io.StringIO()
    configure_logging(stream=out, json_lines=True, verbose=True)
    log = logging.getLogger("torchtrader.bots")
    log.info("cycle of %s", "alpha", extra={"bot": "alpha", "orders": 2})
    try:
        raise ValueError("bad bar")
    except ValueError:
        log.exception("cycle failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message", "bot", "orders")} == {
        "level": "INFO",
        "logger": "torchtrader.bots",
        "message": "cycle of alpha",
        "bot": "alpha",
        "orders": 2,
    }
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: bad bar" in second["exc"]


def test_the_cli_logs_json_lines_with_log_json(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TORCHTRADER_STATE_DB": f"sqlite:///{tmp_path / 'state.db'}",
        "TORCHTRADER_LAKE": str(tmp_path / "lake"),
    }
    result = subprocess.run(
        [TORCHTRADER, "--log-json", "-v", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(r["logger"] == "torchtrader.bots.store.schema" and "upgraded" in r["message"] for r in records)
    plain = subprocess.run(
        [TORCHTRADER, "-v", "db", "upgrade"],
        env={**env, "TORCHTRADER_STATE_DB": f"sqlite:///{tmp_path / 'other.db'}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "INFO torchtrader.bots.store.schema: state DB" in plain.stderr


def test_bot_logs_rotate_by_size_and_keep_only_the_backups(tmp_path: Path) -> None:
    path = bot_log_path(tmp_path / "state", "alpha")
    handler = add_rotating_log(path, max_bytes=400, backups=2, logger_name="rotation-test")
    log = logging.getLogger("rotation-test")
    try:
        for i in range(60):
            log.info("cycle %03d of alpha: no orders", i)
    finally:
        remove_log(handler, "rotation-test")
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["bot-alpha.log", "bot-alpha.log.1", "bot-alpha.log.2"]
    assert all(p.stat().st_size <= 400 for p in path.parent.iterdir())
    assert "cycle 059" in path.read_text()  # the newest records are in the live file
    assert "cycle 000" not in "".join(p.read_text() for p in path.parent.iterdir())


def test_the_file_gets_info_while_the_terminal_keeps_warnings(tmp_path: Path) -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    handler = add_rotating_log(tmp_path / "bot.log", json_lines=True)
    try:
        logging.getLogger("torchtrader.bots.cycle").info("filled 1 BTC/USDT")
    finally:
        remove_log(handler)
    assert out.getvalue() == ""
    (record,) = [json.loads(line) for line in (tmp_path / "bot.log").read_text().splitlines()]
    assert record["message"] == "filled 1 BTC/USDT"
    assert isinstance(handler.formatter, JsonLinesFormatter)


def test_no_handler_writes_a_registered_secret(tmp_path: Path) -> None:
    secret = "sk-live-0123456789abcdef"
    register_secret(secret)
    out = io.StringIO()
    configure_logging(stream=out, json_lines=True)
    handler = add_rotating_log(tmp_path / "bot.log")
    try:
        logging.getLogger("torchtrader.bots").warning("venue refused key %s", secret)
    finally:
        remove_log(handler)
    assert secret not in out.getvalue() and secret not in (tmp_path / "bot.log").read_text()
    assert "venue refused key" in out.getvalue()


def test_bot_run_loop_writes_its_rotating_log_beside_the_bot_configs(
    run_cli: object, lake_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("TORCHTRADER_STATE_DB", f"sqlite:///{state / 'state.db'}")
    run = run_cli  # the in-process CLI (tests/conftest.py)
    created = run(  # type: ignore[operator]
        lake_uri, "bot", "create", "alpha", "--strategy", "sma_cross", "--param", "fast=2",
        "--param", "slow=5", "--symbol", "BTC/USDT", "--timeframe", "1h", "--capital", "10000",
    )  # fmt: skip
    assert created.code == 0, created.err
    looped = run(lake_uri, "bot", "run", "alpha", "--loop", "--poll", "0.01", "--max-cycles", "1")  # type: ignore[operator]
    assert looped.code == 0, looped.err
    # INFO records of the cycle reach the file although the terminal shows warnings only
    assert "synthetic BTC/USDT 1h" in (state / "logs" / "bot-alpha.log").read_text()
    assert "synthetic BTC/USDT" not in looped.err
    # the handler is gone after the loop: nothing more is appended
    assert not [h for h in logging.getLogger().handlers if isinstance(h, RotatingFileHandler)]
