"""Reading bars back: one series, a time range, any version, as polars, pandas, pyarrow or SQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from tests.lake.conftest import T0, make_bars
from torchtrader.errors import LakeError
from torchtrader.lake import BARS_SCHEMA, Lake, SeriesInfo


@pytest.fixture
def lake(lake_uri: str) -> Lake:
    lake = Lake(lake_uri)
    lake.upsert_bars(
        pl.concat(
            [
                make_bars("BTC/USDT", n=48),
                make_bars("ETH/USDT", n=24, price=10.0),
                make_bars("BTC/USDT", n=3, timeframe="1d", step=timedelta(days=1)),
                make_bars("SPY", n=5, source="sample", timeframe="1d", step=timedelta(days=1)),
                make_bars("SPY", n=2, source="yfinance", timeframe="1d", step=timedelta(days=1)),
            ]
        )
    )
    return lake


def test_read_returns_the_canonical_schema_sorted_by_ts(lake: Lake) -> None:
    frame = lake.read_bars("BTC/USDT", "1h")
    assert frame.schema == pl.Schema(BARS_SCHEMA)
    assert frame["ts"].is_sorted()
    assert_frame_equal(frame, make_bars("BTC/USDT", n=48))


def test_range_is_start_inclusive_end_exclusive(lake: Lake) -> None:
    frame = lake.read_bars("BTC/USDT", "1h", start=T0 + timedelta(hours=10), end=T0 + timedelta(hours=20))
    assert frame["ts"].to_list() == [T0 + timedelta(hours=h) for h in range(10, 20)]


def test_naive_datetimes_are_read_as_utc(lake: Lake) -> None:
    naive = datetime(2024, 1, 1, 10)
    frame = lake.read_bars("BTC/USDT", "1h", start=naive, end=naive + timedelta(hours=2))
    assert frame["ts"].to_list() == [T0 + timedelta(hours=10), T0 + timedelta(hours=11)]


def test_polars_pandas_and_arrow_readers_agree(lake: Lake) -> None:
    frame = lake.read_bars("ETH/USDT", "1h")
    as_pandas = lake.read_bars_pandas("ETH/USDT", "1h")
    as_arrow = lake.read_bars_arrow("ETH/USDT", "1h")
    assert isinstance(as_pandas, pd.DataFrame)
    assert isinstance(as_arrow, pa.Table)
    assert str(as_pandas["ts"].dt.tz) == "UTC"
    assert list(as_pandas.columns) == frame.columns
    for column in frame.columns:
        assert as_pandas[column].tolist() == frame[column].to_list()
    assert_frame_equal(pl.DataFrame(as_arrow), frame)


def test_timeframes_are_separate_series(lake: Lake) -> None:
    assert lake.read_bars("BTC/USDT", "1d").height == 3
    assert lake.read_bars("BTC/USDT", "1h").height == 48


def test_a_symbol_held_by_two_sources_needs_a_source(lake: Lake) -> None:
    with pytest.raises(LakeError, match=r"several sources \(sample, yfinance\).*source="):
        lake.read_bars("SPY")
    assert lake.read_bars("SPY", source="yfinance").height == 2
    assert lake.read_bars("SPY", source="sample").height == 5


def test_unknown_series_is_a_lake_error(lake: Lake) -> None:
    with pytest.raises(LakeError, match="no 1h bars for 'DOGE/USDT'"):
        lake.read_bars("DOGE/USDT", "1h")
    with pytest.raises(LakeError, match="from source 'ccxt'"):
        lake.read_bars("BTC/USDT", "1h", source="ccxt")


def test_series_lists_every_series_with_rows_and_range(lake: Lake) -> None:
    listed = {(s.source, s.symbol, s.timeframe): s for s in lake.series()}
    assert set(listed) == {
        ("test", "BTC/USDT", "1h"),
        ("test", "ETH/USDT", "1h"),
        ("test", "BTC/USDT", "1d"),
        ("sample", "SPY", "1d"),
        ("yfinance", "SPY", "1d"),
    }
    assert listed["test", "BTC/USDT", "1h"] == SeriesInfo(
        "test", "BTC/USDT", "1h", 48, T0, T0 + timedelta(hours=47)
    )


def test_last_ts_follows_appends(lake: Lake) -> None:
    assert lake.last_ts("test", "ETH/USDT", "1h") == T0 + timedelta(hours=23)
    lake.upsert_bars(make_bars("ETH/USDT", start=T0 + timedelta(hours=24), n=2, price=34.0))
    assert lake.last_ts("test", "ETH/USDT", "1h") == T0 + timedelta(hours=25)
    assert lake.last_ts("test", "ETH/USDT", "1d") is None


def test_sub_millisecond_timestamps_survive_the_fast_path(lake_uri: str) -> None:
    # Delta keeps millisecond statistics; a bar 1 µs after the last one must still be new, not lost.
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars("X", n=1))
    result = lake.upsert_bars(make_bars("X", start=T0 + timedelta(microseconds=1), n=1, price=7.0))
    assert result.rows_added == 1
    assert lake.read_bars("X", "1h")["ts"].to_list() == [T0, T0 + timedelta(microseconds=1)]
    assert lake.last_ts("test", "X", "1h") == T0 + timedelta(microseconds=1)


def test_symbols_with_path_characters_round_trip(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    odd = ["BRK.B", "EUR/USD:USD", "A B%=&?#", "^GSPC", "ÄÖ"]
    lake.upsert_bars(pl.concat([make_bars(symbol, n=3) for symbol in odd]))
    for symbol in odd:
        assert lake.read_bars(symbol, "1h")["symbol"].to_list() == [symbol] * 3
    assert sorted(s.symbol for s in lake.series()) == sorted(odd)


def test_sql_sees_every_table_by_name(lake: Lake) -> None:
    counts = lake.sql("SELECT source, symbol, timeframe, count(*) AS n FROM bars GROUP BY ALL ORDER BY ALL")
    assert counts.rows() == [
        ("sample", "SPY", "1d", 5),
        ("test", "BTC/USDT", "1d", 3),
        ("test", "BTC/USDT", "1h", 48),
        ("test", "ETH/USDT", "1h", 24),
        ("yfinance", "SPY", "1d", 2),
    ]


def test_sql_can_pin_the_bars_version(lake: Lake) -> None:
    before = lake.version()
    lake.upsert_bars(make_bars("NEW", n=4))
    assert lake.sql("SELECT count(*) AS n FROM bars", version=before)["n"].item() == 82
    assert lake.sql("SELECT count(*) AS n FROM bars")["n"].item() == 86


def test_read_table_filters_push_down(lake: Lake) -> None:
    frame = lake.read_table("bars", filters=[("symbol", "=", "SPY"), ("source", "=", "sample")])
    assert frame.height == 5
    assert set(frame.columns) == set(BARS_SCHEMA)


def test_read_bars_many_reads_one_snapshot_of_several_symbols(lake: Lake) -> None:
    both = lake.read_bars_many(["ETH/USDT", "BTC/USDT", "ETH/USDT"], "1h", end=T0 + timedelta(hours=2))
    assert both.select("symbol", "ts").rows() == [
        ("BTC/USDT", T0),
        ("BTC/USDT", T0 + timedelta(hours=1)),
        ("ETH/USDT", T0),
        ("ETH/USDT", T0 + timedelta(hours=1)),
    ]
    with pytest.raises(LakeError, match="no 1h bars for 'NOPE'"):
        lake.read_bars_many(["BTC/USDT", "NOPE"], "1h")


def test_last_ts_can_name_a_version(lake: Lake) -> None:
    before = lake.version()
    lake.upsert_bars(make_bars("ETH/USDT", start=T0 + timedelta(hours=24), n=1, price=34.0))
    assert lake.last_ts("test", "ETH/USDT", "1h", version=before) == T0 + timedelta(hours=23)
    assert lake.last_ts("test", "ETH/USDT", "1h") == T0 + timedelta(hours=24)
