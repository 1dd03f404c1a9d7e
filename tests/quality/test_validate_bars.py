"""validate_bars, case by case: each bad input names exactly the failing rows and why.

The expected rows and reasons are written by hand from the rules (one short sentence per failed rule,
joined with "; " in the suite's declaration order), not computed by the code under test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.quality.conftest import BarRow, MakeBars, bars_frame
from torchtrader.errors import ConfigError, ValidationError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.quality import Gap, ValidationReport, validate_bars

NAN = math.nan
ALL_HIGH_LOW = (
    "high is below low; high is below open; high is below close; low is above open; low is above close"
)
CONFLICT = "conflicting rows for one timestamp"


def clean(hour: int, close: float = 10.5) -> BarRow:
    return (f"2024-01-01T{hour:02d}:00", 10.0, 11.0, 9.0, close, 100.0)


# (case id, input rows, {input row: reason}, input rows expected in `valid`, in this order)
CASES: list[tuple[str, list[BarRow], dict[int, str], list[int]]] = [
    ("clean", [clean(0), clean(1), clean(2)], {}, [0, 1, 2]),
    (
        "NaN close",
        [clean(0), clean(1), ("2024-01-01T02:00", 10.0, 11.0, 9.0, NAN, 100.0)],
        {2: "close is null or NaN"},
        [0, 1],
    ),
    (
        "null volume",
        [clean(0), ("2024-01-01T01:00", 10.0, 11.0, 9.0, 10.5, None), clean(2)],
        {1: "volume is null or NaN"},
        [0, 2],
    ),
    ("null ts", [clean(0), (None, 10.0, 11.0, 9.0, 10.5, 1.0), clean(1)], {1: "ts is null"}, [0, 2]),
    ("conflicting duplicate", [clean(0), clean(1), clean(1, close=10.6)], {1: CONFLICT, 2: CONFLICT}, [0]),
    ("exact duplicate collapses", [clean(0), clean(1), clean(1), clean(2)], {}, [0, 1, 3]),
    (
        "exact duplicate plus a conflicting one",
        [clean(1), clean(0), clean(1), clean(1, close=10.6)],
        {0: CONFLICT, 3: CONFLICT},
        [1],
    ),
    ("unsorted is sorted then checked", [clean(2), clean(0), clean(1)], {}, [0, 1, 2]),
    ("high below low", [clean(0), ("2024-01-01T01:00", 10.0, 9.0, 11.0, 10.0, 1.0)], {1: ALL_HIGH_LOW}, [0]),
    (
        "high below open",
        [("2024-01-01T00:00", 12.0, 11.0, 9.0, 10.0, 1.0), clean(1)],
        {0: "high is below open"},
        [1],
    ),
    (
        "low above close",
        [clean(0), ("2024-01-01T01:00", 10.0, 11.0, 9.5, 9.0, 1.0)],
        {1: "low is above close"},
        [0],
    ),
    (
        "zero low and close",
        [clean(0), ("2024-01-01T01:00", 1.0, 2.0, 0.0, 0.0, 1.0)],
        {1: "low is not positive; close is not positive"},
        [0],
    ),
    (
        "negative prices",
        [("2024-01-01T00:00", -1.0, -1.0, -1.0, -1.0, 1.0), clean(1)],
        {0: "open is not positive; high is not positive; low is not positive; close is not positive"},
        [1],
    ),
    (
        "negative volume",
        [clean(0), ("2024-01-01T01:00", 10.0, 11.0, 9.0, 10.5, -5.0)],
        {1: "volume is negative"},
        [0],
    ),
    (
        "misaligned ts",
        [clean(0), ("2024-01-01T01:30", 10.0, 11.0, 9.0, 10.5, 1.0), clean(2)],
        {1: "ts not aligned to the timeframe"},
        [0, 2],
    ),
    (
        "several reasons on one row",
        [("2024-01-01T00:00", NAN, 11.0, 9.0, 10.5, -1.0), clean(1)],
        {0: "open is null or NaN; volume is negative"},
        [1],
    ),
]


def reasons(report: ValidationReport) -> dict[int, str]:
    return dict(zip(report.invalid["row"].to_list(), report.invalid["reason"].to_list(), strict=True))


@pytest.mark.parametrize(
    ("rows", "expected", "valid_rows"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_each_bad_case_names_the_exact_rows_and_reasons(
    make_bars: MakeBars, rows: list[BarRow], expected: dict[int, str], valid_rows: list[int]
) -> None:
    frame = make_bars(rows)
    report = validate_bars(frame, run_gx=False)

    assert reasons(report) == expected
    assert report.success is (not expected)
    assert report.first_error() == (min(expected.items()) if expected else None)
    assert_frame_equal(report.valid, frame[valid_rows])
    # the invalid rows carry the input values exactly as they came (NaN stays NaN)
    assert_frame_equal(report.invalid.drop("row", "reason"), frame[sorted(expected)])
    assert report.invalid.schema == pl.Schema({**BARS_SCHEMA, "row": pl.UInt32(), "reason": pl.String()})


def test_the_input_frame_is_never_modified(make_bars: MakeBars) -> None:
    rows = [clean(2), ("2024-01-01T00:00", NAN, 11.0, 9.0, 10.5, -1.0), clean(1), clean(1)]
    frame = make_bars(rows)
    validate_bars(frame, run_gx=False)
    assert_frame_equal(frame, make_bars(rows))


def test_missing_bars_are_reported_as_gaps_not_errors(make_bars: MakeBars) -> None:
    frame = make_bars([clean(0), clean(1), clean(5), clean(6), clean(8)])
    report = validate_bars(frame, "1h", run_gx=False)
    at = [datetime(2024, 1, 1, hour, tzinfo=UTC) for hour in range(9)]
    assert report.success
    assert report.gaps == [
        Gap(symbol="BTC/USDT", after=at[1], before=at[5], missing_bars=3),
        Gap(symbol="BTC/USDT", after=at[6], before=at[8], missing_bars=1),
    ]


def test_gaps_skip_invalid_rows_and_come_in_time_order_for_unsorted_input(make_bars: MakeBars) -> None:
    bad = ("2024-01-01T02:00", 10.0, 11.0, 9.0, 10.5, -1.0)
    report = validate_bars(make_bars([clean(3), clean(0), bad, clean(1)]), run_gx=False)
    at = [datetime(2024, 1, 1, hour, tzinfo=UTC) for hour in range(4)]
    assert report.gaps == [Gap(symbol="BTC/USDT", after=at[1], before=at[3], missing_bars=1)]


def test_weekly_bars_are_aligned_to_mondays(make_bars: MakeBars) -> None:
    mondays = [("2024-01-01T00:00", 1, 2, 1, 2, 0), ("2024-01-08T00:00", 1, 2, 1, 2, 0)]
    thursday = [("2024-01-04T00:00", 1, 2, 1, 2, 0)]
    assert validate_bars(make_bars(mondays, timeframe="1w"), run_gx=False).success
    report = validate_bars(make_bars(thursday, timeframe="1w"), run_gx=False)
    assert report.first_error() == (0, "ts not aligned to the timeframe")


def test_series_are_checked_apart_even_when_interleaved() -> None:
    btc = bars_frame([clean(0), clean(2)], symbol="BTC/USDT")
    eth = bars_frame([clean(0), clean(1), clean(1, close=10.7)], symbol="ETH/USDT")
    frame = pl.concat([btc[0], eth[0], eth[1], btc[1], eth[2]])
    report = validate_bars(frame, run_gx=False)
    assert reasons(report) == {2: CONFLICT, 4: CONFLICT}
    assert [(g.symbol, g.missing_bars) for g in report.gaps] == [("BTC/USDT", 1)]
    assert_frame_equal(report.valid, frame[[0, 1, 3]])


def test_several_timeframes_in_one_frame_each_use_their_own_spacing() -> None:
    hourly = bars_frame([clean(0), clean(1)], timeframe="1h")
    four_hourly = bars_frame([clean(0), clean(1), clean(8)], timeframe="4h")
    report = validate_bars(pl.concat([hourly, four_hourly]), run_gx=False)
    assert report.first_error() == (3, "ts not aligned to the timeframe")
    assert [(g.after.hour, g.before.hour, g.missing_bars) for g in report.gaps] == [(0, 8, 1)]


def test_an_empty_frame_is_valid(make_bars: MakeBars) -> None:
    report = validate_bars(make_bars([clean(0)]).clear())
    assert report.success
    assert report.valid.is_empty()
    assert report.invalid.is_empty()
    assert (report.gaps, report.expectations, report.first_error()) == ([], [], None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("volume"), "bars frame lacks column(s) volume: build it with to_canonical_bars()"),
        (
            lambda f: f.with_columns(pl.col("ts").dt.replace_time_zone(None)),
            "bars frame is not canonical (ts is Datetime(time_unit='us', time_zone=None))",
        ),
        (lambda f: f.with_columns(pl.lit("1x").alias("timeframe")), "bars frame holds an unknown timeframe"),
    ],
    ids=["missing column", "naive timestamps", "unknown timeframe"],
)
def test_a_frame_that_is_not_canonical_raises_one_line(
    make_bars: MakeBars, change: Callable[[pl.DataFrame], pl.DataFrame], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_bars(change(make_bars([clean(0)])))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_an_unexpected_timeframe_raises(make_bars: MakeBars) -> None:
    with pytest.raises(ValidationError, match="holds timeframe '1h' rows, expected '1d'"):
        validate_bars(make_bars([clean(0)]), "1d")
    with pytest.raises(ConfigError, match="invalid timeframe"):
        validate_bars(make_bars([clean(0)]), "daily")
