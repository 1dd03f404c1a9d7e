"""Corporate actions applied at read time, on a split and a dividend worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from torchtrader.errors import DataError, LakeError
from torchtrader.lake import BARS_SCHEMA, Lake
from torchtrader.lake.corporate_actions import TABLE, to_actions


def day(d: int) -> datetime:
    return datetime(2024, 1, d, tzinfo=UTC)


# Raw closes as traded: 400 and 404 before a 4-for-1 split on Jan 4, then 101 and 102.
RAW = pl.DataFrame(
    {
        "source": "csv",
        "symbol": "ACME",
        "timeframe": "1d",
        "ts": [day(2), day(3), day(4), day(5)],
        "open": [396.0, 400.0, 100.0, 101.0],
        "high": [404.0, 408.0, 102.0, 103.0],
        "low": [392.0, 396.0, 99.0, 100.0],
        "close": [400.0, 404.0, 101.0, 102.0],
        "volume": [10.0, 20.0, 80.0, 100.0],
    },
    schema=BARS_SCHEMA,
)
# Split 4:1 ex Jan 4; a 1.01 dividend ex Jan 5 (post-split basis) on a prior close of 101: factor 0.99.
ACTIONS = to_actions(
    pl.DataFrame(
        {
            "symbol": ["ACME", "ACME"],
            "ts": [day(4), day(5)],
            "kind": ["split", "dividend"],
            "value": [4.0, 1.01],
            "source": ["test", "test"],
        }
    )
)


@pytest.fixture
def lake(lake_uri: str) -> Lake:
    lake = Lake(lake_uri)
    lake.upsert_bars(RAW)
    lake.write_table(TABLE, ACTIONS, key=["symbol", "kind", "ts"], mode="upsert")
    return lake


def test_no_actions_means_unchanged_bars(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(RAW)
    assert lake.read_bars("ACME").equals(RAW)
    assert lake.read_bars("ACME", adjust="total").equals(RAW)


def test_split_adjustment_by_hand(lake: Lake) -> None:
    bars = lake.read_bars("ACME")  # split is the default
    assert bars["close"].to_list() == [100.0, 101.0, 101.0, 102.0]
    assert bars["open"].to_list() == [99.0, 100.0, 100.0, 101.0]
    assert bars["high"].to_list() == [101.0, 102.0, 102.0, 103.0]
    assert bars["volume"].to_list() == [40.0, 80.0, 80.0, 100.0]


def test_total_adjustment_by_hand(lake: Lake) -> None:
    bars = lake.read_bars("ACME", adjust="total")
    assert bars["close"].to_list() == pytest.approx([99.0, 99.99, 99.99, 102.0], rel=1e-12)
    assert bars["volume"].to_list() == [40.0, 80.0, 80.0, 100.0]  # dividends never touch volume
    # the dividend's factor needs the close before its ex-date even when start cuts it off
    clipped = lake.read_bars("ACME", adjust="total", start=day(4))
    assert clipped["close"].to_list() == pytest.approx([99.99, 102.0], rel=1e-12)


def test_raw_bars_stay_as_delivered(lake: Lake) -> None:
    assert lake.read_bars("ACME", adjust="none").equals(RAW)
    assert lake.sql("SELECT close FROM bars ORDER BY ts")["close"].to_list() == [400.0, 404.0, 101.0, 102.0]


def test_many_and_pandas_reads_adjust_too(lake: Lake) -> None:
    assert lake.read_bars_many(["ACME"])["close"].to_list() == [100.0, 101.0, 101.0, 102.0]
    assert lake.read_bars_pandas("ACME", adjust="none")["close"].tolist() == [400.0, 404.0, 101.0, 102.0]


def test_reverse_split_and_reupsert_keeps_one_event(lake: Lake) -> None:
    again = ACTIONS.with_columns(pl.lit("other").alias("source"))
    lake.write_table(TABLE, again, key=["symbol", "kind", "ts"], mode="upsert")
    assert lake.corporate_actions("ACME").height == 2


def test_bad_adjust_and_impossible_events() -> None:
    with pytest.raises(LakeError, match="invalid adjust 'dividends'"):
        Lake("/nonexistent-lake").read_bars("ACME", adjust="dividends")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"impossible corporate action split -2\.0"):
        to_actions(ACTIONS.with_columns(pl.lit(-2.0).alias("value")))
    with pytest.raises(DataError, match="unknown corporate action kind 'merger'"):
        to_actions(ACTIONS.with_columns(pl.lit("merger").alias("kind")))


def test_yahoo_series_are_not_adjusted_twice(lake: Lake) -> None:
    yahoo = RAW.with_columns(pl.lit("yfinance").alias("source"))
    lake.upsert_bars(yahoo)  # Yahoo already split-adjusts: stored as delivered, read as delivered
    assert lake.read_bars("ACME", source="yfinance").equals(yahoo)
    assert lake.read_bars("ACME", source="csv")["close"].to_list() == [100.0, 101.0, 101.0, 102.0]
