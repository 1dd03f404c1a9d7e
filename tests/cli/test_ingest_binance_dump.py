"""`torchtrader ingest binance-dump …` on fixtures in Binance's public-data format (tests/data/binance)."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from torchtrader.lake import Lake

DATA = Path(__file__).parents[1] / "data" / "binance"
GOOD = DATA / "good"
BAD = DATA / "bad"


def independent_read(path: Path) -> pl.DataFrame:
    """The oracle: the archive's CSV read plainly, times converted by their documented unit."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read(archive.namelist()[0]).decode()
    rows = [line.split(",") for line in text.splitlines() if line]
    unit = 1_000_000 if len(rows[0][0]) == 16 else 1000
    return pl.DataFrame(
        {
            "ts": [datetime.fromtimestamp(int(r[0]) / unit, UTC) for r in rows],
            "close": [float(r[4]) for r in rows],
            "volume": [float(r[5]) for r in rows],
        }
    )


def test_folder_of_ms_and_us_archives_lands_and_rerun_adds_nothing(cli: Any, lake_uri: str) -> None:
    first = cli("ingest", "binance-dump", str(GOOD), "--symbol", "BTC/USDT", "--timeframe", "1m", "--json")
    assert first.code == 0, first.err
    report = first.json()["reports"][0]
    assert (report["rows_fetched"], report["rows_added"], report["rows_quarantined"]) == (120, 120, 0)
    assert report["new_gaps"] == []  # 2024-12-31 23:59 (ms file) runs straight into 2025-01-01 00:00 (µs)
    bars = Lake(lake_uri).read_bars("BTC/USDT", "1m")
    expected = pl.concat([independent_read(p) for p in sorted(GOOD.glob("*.zip"))])
    assert bars["ts"].to_list() == expected["ts"].to_list()
    assert bars["close"].to_list() == expected["close"].to_list()
    assert bars["source"].unique().to_list() == ["binance-dump"]
    again = cli("ingest", "binance-dump", str(GOOD), "--symbol", "BTC/USDT", "--timeframe", "1m", "--json")
    assert again.json()["reports"][0]["rows_added"] == 0
    assert Lake(lake_uri).version("bars") == report["lake_version"]


def test_header_row_file_and_as_source(cli: Any, lake_uri: str) -> None:
    path = DATA / "header" / "BTCUSDT-1h-2024-01.csv"
    run = cli(
        "ingest", "binance-dump", str(path), "-s", "BTC/USDT", "-t", "1h", "--as-source", "ccxt", "--json"
    )
    assert run.code == 0, run.err
    bars = Lake(lake_uri).read_bars("BTC/USDT", "1h", source="ccxt")
    assert bars.height == 48
    assert bars["ts"][0] == datetime(2024, 1, 1, tzinfo=UTC)
    assert bars["ts"][-1] - bars["ts"][0] == timedelta(hours=47)


def test_ingest_csv_detects_the_binance_format(cli: Any, lake_uri: str) -> None:
    path = BAD / "mixed" / "BTCUSDT-1m-2024-01-02.csv"  # a good file on its own
    run = cli("ingest", "csv", str(path), "--symbol", "BTC/USDT", "--timeframe", "1m", "--json")
    assert run.code == 0, run.err
    assert run.json()["reports"][0]["rows_added"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(BAD / "corrupt")], "BTCUSDT-1m-2024-01-02.zip: corrupt zip archive"),
        ([str(BAD / "truncated")], "BTCUSDT-1m-2024-01-02.csv: line 30: expected 12 kline fields, found 6"),
        ([str(BAD / "mixed")], "ETHUSDT-1m-2024-01-02.csv: holds ETHUSDT klines, not BTCUSDT"),
        ([str(BAD / "not_binance.zip")], "not_binance.zip: line 1: not a Binance kline file"),
        ([str(GOOD), str(BAD / "truncated")], "line 30: expected 12 kline fields"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_lake_unchanged(
    cli: Any, lake_uri: str, args: list[str], message: str
) -> None:
    cli("ingest", "synthetic", "--symbol", "BTC/USDT", "--timeframe", "1m", "--start", "2024-01-01",
        "--end", "2024-01-01T01:00")  # fmt: skip
    before = (Lake(lake_uri).version("bars"), Lake(lake_uri).version("quarantine"))
    run = cli("ingest", "binance-dump", *args, "--symbol", "BTC/USDT", "--timeframe", "1m")
    assert run.code == 1
    assert message in run.err
    assert run.err.count("\n") == 1 and run.err.startswith("error: ")
    assert (Lake(lake_uri).version("bars"), Lake(lake_uri).version("quarantine")) == before


def test_wrong_timeframe_is_named(cli: Any) -> None:
    run = cli("ingest", "binance-dump", str(GOOD), "--symbol", "BTC/USDT", "--timeframe", "1h")
    assert run.code == 1
    assert "holds 1m klines, not --timeframe 1h" in run.err
    renamed = cli(
        "ingest", "csv", str(DATA / "header" / "BTCUSDT-1h-2024-01.csv"), "-s", "BTC/USDT", "-t", "1m"
    )
    assert renamed.code == 1
    assert "line 2: kline spans 3600s, not one 1m bar (wrong --timeframe?)" in renamed.err
