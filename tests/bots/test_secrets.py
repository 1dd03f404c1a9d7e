"""Secrets: resolved by name, masked in every log record, found by the scanner wherever they leak."""

from __future__ import annotations

import io
import logging
import random
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from torchtrader.bots.secrets import (
    MASK,
    SecretRedactingFilter,
    redact,
    register_secret,
    resolve_secret,
    scan_for_secrets,
)
from torchtrader.errors import ConfigError


def test_resolve_reads_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_TEST_KEY_A", "env-secret-value-a1")
    assert resolve_secret("TT_TEST_KEY_A") == "env-secret-value-a1"
    assert redact("key=env-secret-value-a1;") == f"key={MASK};"


@pytest.mark.parametrize("value", [None, ""])
def test_missing_variable_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("TT_TEST_ABSENT", raising=False)
    else:
        monkeypatch.setenv("TT_TEST_ABSENT", value)
    with pytest.raises(ConfigError) as caught:
        resolve_secret("TT_TEST_ABSENT")
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "environment variable TT_TEST_ABSENT is not set or empty: "
        "export TT_TEST_ABSENT=... before starting the bot"
    )


def test_resolver_is_asked_instead_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("binance-key", "from-env-should-not-win")
    blocks = {"binance-key": "block-secret-b2"}
    assert resolve_secret("binance-key", resolver=blocks.get) == "block-secret-b2"
    assert redact("block-secret-b2") == MASK
    with pytest.raises(ConfigError, match="secret 'other' is not set or empty"):
        resolve_secret("other", resolver=blocks.get)


def test_a_failing_resolver_is_named_without_its_message() -> None:
    def resolver(name: str) -> str:
        raise RuntimeError("server said: token tok-leaky-c3 invalid")

    with pytest.raises(ConfigError) as caught:
        resolve_secret("alpaca-secret", resolver=resolver)
    assert str(caught.value) == (
        "secret 'alpaca-secret' could not be read (RuntimeError): create it or fix the name in the bot config"
    )
    assert caught.value.__cause__ is None


def _capture(logger_name: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    return log, stream, handler


@pytest.mark.parametrize("logger_name", ["torchtrader.bots.cycle", "ccxt.base.exchange", "urllib3"])
def test_every_logger_masks_registered_secrets(logger_name: str) -> None:
    secret = "log-secret-d4e5f6"
    register_secret(secret)
    log, stream, handler = _capture(logger_name)
    try:
        log.debug("GET /api/v3/account?signature=x&apiKey=%s", secret)
        log.info(f"header X-MBX-APIKEY: {secret}")
        try:
            raise ValueError(f"bad key {secret}")
        except ValueError:
            log.exception("request failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text
    assert text.count(MASK) == 3
    assert "apiKey=***" in text and "ValueError: bad key ***" in text


def test_the_filter_also_works_on_a_handler() -> None:
    secret = "filter-secret-77aa"
    register_secret(secret)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", (secret,), None)
    assert SecretRedactingFilter().filter(record)
    assert record.getMessage() == "key ***"


def test_longer_secret_is_masked_whole() -> None:
    register_secret("overlap-secret")
    register_secret("overlap-secret-longer")
    assert redact("a overlap-secret-longer b overlap-secret") == "a *** b ***"


def test_scanner_finds_leaks_in_text_sqlite_and_compressed_parquet(tmp_path: Path) -> None:
    secret = "scan-me-secret-0042"
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "bot.log").write_text(f"ok\nkey={secret}\n")
    (tmp_path / "logs" / "clean.log").write_text("nothing here\n")
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("create table events (message text)")
    db.execute("insert into events values (?)", (f"order by {secret}",))
    db.commit()
    db.close()
    # compressed pages hide a value from a byte search: the scanner decodes Parquet values
    letters = random.Random(0)
    notes = [f"c{secret}"] + ["".join(letters.choices("abcdefghijklmnop", k=40)) for _ in range(2000)]
    pq.write_table(
        pa.table({"note": notes}),
        tmp_path / "fills.parquet",
        compression="zstd",
        use_dictionary=False,
        write_statistics=False,
    )
    assert secret.encode() not in (tmp_path / "fills.parquet").read_bytes()
    pq.write_table(pa.table({"note": ["clean"]}), tmp_path / "clean.parquet", compression="zstd")

    leaks = scan_for_secrets([tmp_path], [secret, ""])
    assert sorted((Path(leak.path).name, leak.form) for leak in leaks) == [
        ("bot.log", "bytes"),
        ("fills.parquet", "parquet values"),
        ("state.db", "bytes"),
    ]
    assert scan_for_secrets([tmp_path / "logs" / "clean.log"], [secret]) == []


def _paper_bot_run(tmp_path: Path, key: str, secret: str) -> list[Path]:
    """A real paper bot's cycles with its key variables resolved, debug logs of every logger in a
    file, and the JSON documents the CLI would print; returns what to scan."""
    import json
    from datetime import UTC, datetime, timedelta

    from torchtrader.bots.config import make_bot_config, make_broker
    from torchtrader.bots.cycle import run_cycle
    from torchtrader.bots.explain import explain_bot
    from torchtrader.bots.store import StateStore
    from torchtrader.lake import Lake

    config = make_bot_config(
        {
            "name": "keyed",
            "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8},
            "symbols": ["BTC/USDT"],
            "timeframe": "1h",
            "capital": 10_000,
            "lookback_bars": 20,
            "broker": {"kind": "paper", "key_env": "TT_SCAN_KEY", "secret_env": "TT_SCAN_SECRET"},
        }
    )
    assert resolve_secret("TT_SCAN_KEY") == key
    assert resolve_secret("TT_SCAN_SECRET") == secret
    log_file = tmp_path / "logs" / "bot.log"
    log_file.parent.mkdir()
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        lake = Lake(str(tmp_path / "lake"))
        store = StateStore(f"sqlite:///{tmp_path}/state.db")
        broker = make_broker(config, store=store, lake=lake)
        start = datetime(2026, 1, 5, tzinfo=UTC)
        reports = [
            run_cycle(config, store, broker, lake, now=start + timedelta(hours=k, minutes=1))
            for k in range(12)
        ]
        # a careless library line: the redaction must catch it
        logging.getLogger("torchtrader.bots.cycle").debug("signing with %s / %s", key, secret)
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir()
        (artifacts / "cycles.json").write_text(json.dumps([r.to_json() for r in reports]))
        explained = explain_bot("keyed", store=store, lake=lake).to_json()
        (artifacts / "explain.json").write_text(json.dumps(explained))
        (artifacts / "events.json").write_text(
            json.dumps([e.to_json() for e in store.events("keyed")], default=str)
        )
        assert any(store.fills("keyed")), "the bot should have traded"
        store.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    return [log_file.parent, tmp_path / "artifacts", tmp_path / "lake", *tmp_path.glob("state.db*")]


def test_a_real_bot_leaves_no_key_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, secret = "scanKEY7d1e0a99b2", "scanSECRETf00dfeed4242"
    monkeypatch.setenv("TT_SCAN_KEY", key)
    monkeypatch.setenv("TT_SCAN_SECRET", secret)
    places = _paper_bot_run(tmp_path, key, secret)
    assert (tmp_path / "logs" / "bot.log").read_text().count("signing with *** / ***") == 1
    assert scan_for_secrets(places, [key, secret]) == []
    # the scan can fail: the same places with a leak planted in each kind of file are caught
    (tmp_path / "logs" / "leak.log").write_text(f"x {secret}")
    assert [Path(leak.path).name for leak in scan_for_secrets(places, [key, secret])] == ["leak.log"]
