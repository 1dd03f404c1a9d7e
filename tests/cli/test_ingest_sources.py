"""`torchtrader ingest ccxt|synthetic|sample`: real clients end to end, incremental, one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from torchtrader.sources import get_source
from torchtrader.testing.binance_server import BinanceServer


def test_ccxt_ingest_through_loopback_binance_is_incremental(cli: Any) -> None:
    bars = get_source("synthetic", seed=3).fetch(
        "BTC/USDT", "1h", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    )
    with BinanceServer(bars) as server:
        args = ("ingest", "ccxt", "--symbol", "BTC/USDT", "--timeframe", "1h", "--api-url", server.url)
        first = cli(*args, "--start", "2024-01-01", "--end", "2024-02-01", "--json")
        assert first.code == 0, first.err
        assert first.json()["reports"][0]["rows_added"] == 31 * 24
        seen_before = len(server.requests)
        second = cli(*args, "--start", "2024-01-01", "--end", "2024-03-01", "--json")
        assert second.code == 0, second.err
        assert second.json()["reports"][0]["rows_added"] == 29 * 24
        asked_from = [
            int(r.params["startTime"]) for r in server.requests[seen_before:] if r.path == "/api/v3/klines"
        ]
    # The rerun asked only for what follows the last stored bar (minus the small overlap).
    assert min(asked_from) >= int(datetime(2024, 1, 31, 20, tzinfo=UTC).timestamp() * 1000)
    shown = cli("data", "show", "--symbol", "BTC/USDT", "--timeframe", "1h", "--json").json()
    assert shown["rows"] == 60 * 24
    assert shown["source"] == "ccxt"


def test_exchange_down_is_one_line_and_lake_untouched(cli: Any) -> None:
    with BinanceServer() as server:
        server.inject("500", times=50)
        result = cli(
            "ingest", "ccxt", "--symbol", "BTC/USDT", "--timeframe", "1h", "--api-url", server.url,
            "--start", "2024-01-01", "--end", "2024-01-02",
        )  # fmt: skip
    assert result.code != 0
    lines = [line for line in result.err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "BTC/USDT" in lines[0]
    assert "Traceback" not in result.err
    assert cli("data", "list", "--json").json() == []


def test_sample_and_sql(cli: Any) -> None:
    assert cli("ingest", "sample", "--symbol", "SPX").code == 0
    rows = cli(
        "sql", "SELECT symbol, count(*) AS n, min(ts) AS first FROM bars GROUP BY symbol", "--json"
    ).json()
    assert rows == [{"symbol": "SPX", "n": 5031, "first": rows[0]["first"]}]
    assert str(rows[0]["first"]).startswith("1999-01-04")


def test_unknown_symbol_and_bad_dates_are_one_line(cli: Any) -> None:
    unknown = cli("ingest", "sample", "--symbol", "NOPE")
    assert unknown.code != 0
    assert "NOPE" in unknown.err
    bad_date = cli("ingest", "synthetic", "--start", "yesterday")
    assert bad_date.code != 0
    assert bad_date.err.strip() == "error: --start: 'yesterday' is not an ISO-8601 date or datetime"


def test_data_docs_builds_great_expectations_html(cli: Any, tmp_path: Any) -> None:
    assert (
        cli(
            "ingest", "synthetic", "--symbol", "BTC/USDT", "--start", "2024-01-01", "--end", "2024-01-05"
        ).code
        == 0
    )
    built = cli("data", "docs", "--out", str(tmp_path / "docs"))
    assert built.code == 0, built.err
    index = tmp_path / "docs"
    html = next(index.rglob("index.html"))
    assert str(html) == built.out.strip()
    assert "torchtrader-bars" in html.read_text()
