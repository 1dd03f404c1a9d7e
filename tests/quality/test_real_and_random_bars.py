"""Real market data passes; random valid bars always pass; one corrupted row is flagged alone."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from torchtrader.lake.schema import to_canonical_bars
from torchtrader.quality import validate_bars


def test_the_sp500_sample_passes_with_only_weekend_and_holiday_gaps(sp500: pl.DataFrame) -> None:
    report = validate_bars(sp500, "1d")
    assert report.success
    assert report.invalid.is_empty()
    assert_frame_equal(report.valid, sp500)
    assert report.gx_agrees
    assert all(outcome.success for outcome in report.expectations)

    # Independently: every calendar day between two trading days is missing; on weekdays that is a holiday.
    trading = {ts.date() for ts in sp500["ts"]}
    first, last = min(trading), max(trading)
    all_days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    missing = [day for day in all_days if day not in trading]
    assert sum(gap.missing_bars for gap in report.gaps) == len(missing)
    gap_days = {
        gap.after.date() + timedelta(days=i) for gap in report.gaps for i in range(1, gap.missing_bars + 1)
    }
    assert gap_days == set(missing)
    holidays = [day for day in missing if day.weekday() < 5]
    per_year = {year: sum(day.year == year for day in holidays) for year in range(first.year, last.year + 1)}
    assert all(8 <= count <= 14 for count in per_year.values()), per_year  # NYSE: ~9 holidays a year
    assert {date(2001, 9, 11), date(2012, 10, 29), date(2018, 12, 5), date(2018, 12, 25)} <= set(holidays)
    assert max(gap.missing_bars for gap in report.gaps) == 6  # 9/11: closed from Tuesday to Friday


@st.composite
def valid_bars(draw: st.DrawFn) -> pl.DataFrame:
    """Hourly bars with random holes; prices positive with low <= open, close <= high."""
    n = draw(st.integers(1, 40))

    def column(values: st.SearchStrategy[float]) -> list[float]:
        return draw(st.lists(values, min_size=n, max_size=n))

    steps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    opens, closes = column(st.floats(0.01, 1e6)), column(st.floats(0.01, 1e6))
    ups, downs, volumes = column(st.floats(0, 1e3)), column(st.floats(0, 0.99)), column(st.floats(0, 1e12))
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 10_000)))
    low = [min(o, c) * (1 - d) for o, c, d in zip(opens, closes, downs, strict=True)]
    frame = pl.DataFrame(
        {
            "ts": [start + timedelta(hours=h) for h in np.cumsum(steps).tolist()],
            "open": opens,
            "high": [max(o, c) + u for o, c, u in zip(opens, closes, ups, strict=True)],
            "low": low,
            "close": closes,
            "volume": volumes,
        }
    )
    return to_canonical_bars(frame, source="hypothesis", symbol="RND", timeframe="1h")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=valid_bars())
def test_random_valid_bars_always_pass(bars: pl.DataFrame) -> None:
    report = validate_bars(bars, "1h", run_gx=False)
    assert report.success
    assert_frame_equal(report.valid, bars)
    steps = bars["ts"].diff().drop_nulls().dt.total_hours().to_list()
    assert [gap.missing_bars for gap in report.gaps] == [s - 1 for s in steps if s > 1]


CORRUPTIONS = {
    "nan": lambda row: {**row, "close": math.nan},
    "null": lambda row: {**row, "volume": None},
    "high below low": lambda row: {**row, "high": row["low"] * 0.5},
    "negative volume": lambda row: {**row, "volume": -1.0},
    "zero price": lambda row: {**row, "open": 0.0},
    "negative price": lambda row: {**row, "close": -row["close"]},
    "misaligned": lambda row: {**row, "ts": row["ts"] + timedelta(seconds=1)},
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=valid_bars(), data=st.data())
def test_corrupting_one_random_row_flags_exactly_that_row(bars: pl.DataFrame, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, bars.height - 1), label="row")
    corruption = data.draw(st.sampled_from(sorted(CORRUPTIONS)), label="corruption")
    rows = bars.to_dicts()
    rows[index] = CORRUPTIONS[corruption](rows[index])
    corrupted = pl.DataFrame(rows, schema=bars.schema)

    report = validate_bars(corrupted, run_gx=False)
    assert report.invalid["row"].to_list() == [index]
    assert_frame_equal(report.valid, bars.filter(pl.int_range(pl.len()) != index))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=valid_bars(), data=st.data())
def test_gx_agrees_with_the_fast_path_on_random_corruptions(bars: pl.DataFrame, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, bars.height - 1), label="row")
    corruption = data.draw(st.sampled_from(sorted(CORRUPTIONS)), label="corruption")
    rows = bars.to_dicts()
    rows[index] = CORRUPTIONS[corruption](rows[index])

    report = validate_bars(pl.DataFrame(rows, schema=bars.schema))
    assert report.gx_agrees
    assert {row for outcome in report.expectations for row in outcome.unexpected_rows} == {index}
