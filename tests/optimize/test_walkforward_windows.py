"""Walk-forward windows: durations, tiling test spans, train spans before their tests, bad input."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchtrader.errors import ConfigError
from torchtrader.optimize.windows import Duration, add_months, make_windows, parse_duration

durations = st.builds(
    lambda count, unit: f"{count}{unit}",
    st.integers(min_value=1, max_value=40),
    st.sampled_from(["h", "d", "w", "m", "y"]),
)


@pytest.mark.parametrize(
    ("text", "months", "delta"),
    [
        ("30d", 0, timedelta(days=30)),
        ("12w", 0, timedelta(weeks=12)),
        ("6m", 6, timedelta(0)),
        ("2y", 24, timedelta(0)),
        ("36h", 0, timedelta(hours=36)),
        (" 3m ", 3, timedelta(0)),
    ],
)
def test_durations(text: str, months: int, delta: timedelta) -> None:
    got = parse_duration(text)
    assert (got.months, got.delta) == (months, delta)


@pytest.mark.parametrize("text", ["", "2", "y", "0m", "-1y", "1.5y", "6 months", "2Y", "1q"])
def test_bad_durations_are_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="bad --test") as error:
        parse_duration(text, "--test")
    assert "\n" not in str(error.value)


def test_month_ends_clamp_without_drift() -> None:
    jan31 = datetime(2020, 1, 31, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2020, 2, 29, tzinfo=UTC)
    assert add_months(jan31, 13) == datetime(2021, 2, 28, tzinfo=UTC)
    # k · 1m from the origin, not 1m added k times: March still ends on the 31st
    assert parse_duration("1m").times(2).after(jan31) == datetime(2020, 3, 31, tzinfo=UTC)


@given(
    origin=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    length_days=st.integers(min_value=1, max_value=20 * 366),
    train=durations,
    test=durations,
    anchored=st.booleans(),
)
def test_windows_tile_the_period_after_the_first_train_span(
    origin: datetime, length_days: int, train: str, test: str, anchored: bool
) -> None:
    data_end = origin + timedelta(days=length_days)
    train_d, test_d = parse_duration(train), parse_duration(test)
    if train_d.after(origin) >= data_end:
        with pytest.raises(ConfigError, match="longer than the data"):
            make_windows(origin, data_end, train=train_d, test=test_d, anchored=anchored)
        return
    windows = make_windows(origin, data_end, train=train_d, test=test_d, anchored=anchored)
    assert windows
    assert windows[0].test_start == train_d.after(origin)
    assert windows[-1].test_end == data_end
    for before, after in itertools.pairwise(windows):
        assert before.test_end == after.test_start  # no gap, no overlap
    for w in windows:
        assert w.train_start < w.train_end == w.test_start < w.test_end <= data_end
        assert w.train_start >= origin
        if anchored:
            assert w.train_start == origin


def test_step_must_equal_test() -> None:
    origin = datetime(2010, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--step 3m differs from --test 6m"):
        make_windows(
            origin,
            datetime(2020, 1, 1, tzinfo=UTC),
            train=parse_duration("2y"),
            test=parse_duration("6m"),
            step=parse_duration("3m"),
        )
    windows = make_windows(
        origin,
        datetime(2020, 1, 1, tzinfo=UTC),
        train=parse_duration("2y"),
        test=parse_duration("6m"),
        step=Duration(months=6, text="6m"),
    )
    assert len(windows) == 16
