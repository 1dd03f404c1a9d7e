"""Bad input gets a one-line LakeError and leaves the lake exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.lake.conftest import T0, make_bars
from torchtrader.errors import LakeError
from torchtrader.lake import Lake


@pytest.fixture
def lake(lake_uri: str) -> Lake:
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars(n=10))
    lake.write_table("features", pl.DataFrame({"symbol": ["BTC/USDT"], "sma": [1.5]}))
    return lake


def snapshot(lake: Lake) -> tuple[Any, ...]:
    return (lake.version("bars"), lake.version("features"), lake.read_table("bars").sort("ts"), lake.tables())


def assert_unchanged(lake: Lake, before: tuple[Any, ...]) -> None:
    after = snapshot(lake)
    assert after[0:2] == before[0:2]
    assert_frame_equal(after[2], before[2])
    assert after[3] == before[3]


good = make_bars(start=T0 + timedelta(hours=10), n=3)

BAD_WRITES: dict[str, tuple[Callable[[Lake], object], str]] = {
    "missing column": (lambda lake: lake.upsert_bars(good.drop("volume")), r"missing columns \['volume'\]"),
    "extra column": (lambda lake: lake.upsert_bars(good.with_columns(x=1)), r"unexpected columns \['x'\]"),
    "wrong dtype": (
        lambda lake: lake.upsert_bars(good.with_columns(pl.col("close").cast(pl.String))),
        "column 'close' of the bars frame is String, expected Float64",
    ),
    "naive timestamps": (
        lambda lake: lake.upsert_bars(good.with_columns(pl.col("ts").dt.replace_time_zone(None))),
        "column 'ts'",
    ),
    "not a polars frame": (lambda lake: lake.upsert_bars(good.to_pandas()), "expects a polars DataFrame"),  # type: ignore[arg-type]
    "null key": (
        lambda lake: lake.upsert_bars(good.with_columns(pl.lit(None, pl.String).alias("symbol"))),
        "null value.*'symbol'",
    ),
    "repeated key": (lambda lake: lake.upsert_bars(pl.concat([good, good])), "repeats the key"),
    "quarantine with bars schema": (lambda lake: lake.append_quarantine(good), "missing columns"),
    "bars through write_table": (
        lambda lake: lake.write_table("bars", good, mode="overwrite"),
        r"written with Lake.upsert_bars\(\)",
    ),
    "bad table name": (lambda lake: lake.write_table("../etc", good), "invalid table name"),
    "upsert without key": (lambda lake: lake.write_table("features", good, mode="upsert"), "needs key"),
    "schema change on append": (
        lambda lake: lake.write_table("features", pl.DataFrame({"other": [1]})),
        "writing table features failed",
    ),
    "unknown write mode": (
        lambda lake: lake.write_table("features", good, mode="replace"),  # type: ignore[arg-type]
        "invalid write mode",
    ),
    "untyped column": (
        lambda lake: lake.write_table("features", pl.DataFrame({"symbol": ["x"], "sma": [None]})),
        "has no type",
    ),
}


@pytest.mark.parametrize("case", list(BAD_WRITES))
def test_bad_writes_raise_one_line_errors_and_change_nothing(lake: Lake, case: str) -> None:
    action, message = BAD_WRITES[case]
    before = snapshot(lake)
    with pytest.raises(LakeError, match=message) as raised:
        action(lake)
    assert "\n" not in str(raised.value)
    assert_unchanged(lake, before)


BAD_READS: dict[str, tuple[Callable[[Lake], object], str]] = {
    "unknown table": (lambda lake: lake.read_table("trades"), "no table 'trades'.*bars, features"),
    "future version": (
        lambda lake: lake.read_bars("BTC/USDT", "1h", version=99),
        "no version 99: its latest version is 1",
    ),
    "negative version": (lambda lake: lake.read_table("bars", version=-1), "invalid version -1"),
    "malformed SQL": (lambda lake: lake.sql("SELEC * FROM bars"), "SQL failed: .*syntax error"),
    "SQL on a missing table": (lambda lake: lake.sql("SELECT * FROM trades"), "SQL failed: .*trades"),
    "empty SQL": (lambda lake: lake.sql("  "), "SQL query is empty"),
    "bad filter column": (
        lambda lake: lake.read_table("bars", filters=[("nope", "=", 1)]),
        "reading table bars",
    ),
    "start not a datetime": (
        lambda lake: lake.read_bars("BTC/USDT", "1h", start="2024"),
        "start must be a datetime",
    ),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", list(BAD_READS))
def test_bad_reads_raise_one_line_errors(lake: Lake, case: str) -> None:
    action, message = BAD_READS[case]
    before = snapshot(lake)
    with pytest.raises(LakeError, match=message) as raised:
        action(lake)
    assert "\n" not in str(raised.value)
    assert_unchanged(lake, before)


def test_sql_cannot_change_the_lake(lake: Lake) -> None:
    before = snapshot(lake)
    lake.sql("DROP VIEW bars")  # only drops the query-local view of the table
    assert lake.sql("SELECT count(*) AS n FROM bars")["n"].item() == 10
    assert_unchanged(lake, before)


def test_a_lake_error_is_a_torchtrader_error() -> None:
    from torchtrader.errors import TorchTraderError

    assert issubclass(LakeError, TorchTraderError)


def test_empty_frames_are_no_ops(lake: Lake) -> None:
    before = snapshot(lake)
    result = lake.upsert_bars(make_bars(n=0))
    assert (result.rows_written, result.rows_added, result.version) == (0, 0, before[0])
    assert_unchanged(lake, before)
