"""resample_bars against an independent pandas ``resample`` of the same bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from torchtrader.errors import ConfigError
from torchtrader.lake import BARS_SCHEMA
from torchtrader.lake.resample import resample_bars, resampled_source

RULES = {"1h": "1h", "4h": "4h", "1d": "1D", "1w": "W-MON"}


def random_bars(
    timeframe: str, step: timedelta, n: int, start: datetime, *, hole: bool = True, seed: int = 3
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    opens = close + rng.normal(0, 0.3, n)
    high = np.maximum(opens, close) + rng.uniform(0, 1, n)
    low = np.minimum(opens, close) - rng.uniform(0, 1, n)
    frame = pl.DataFrame(
        {
            "source": "test",
            "symbol": "BTC/USDT",
            "timeframe": timeframe,
            "ts": [start + i * step for i in range(n)],
            "open": opens,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        },
        schema=BARS_SCHEMA,
    )
    if not hole:
        return frame
    # a hole inside the data: the buckets it empties produce no bar, partly emptied ones still do
    return frame.filter((pl.int_range(pl.len()) < n // 3) | (pl.int_range(pl.len()) > n // 3 + 50))


def pandas_resample(frame: pl.DataFrame, to: str, step: timedelta) -> pd.DataFrame:
    """The oracle: pandas' left-closed, left-labelled bins; empty bins and the partial last bin dropped."""
    data = frame.to_pandas().set_index("ts")
    rule = RULES[to]
    out = (
        data.resample(rule, label="left", closed="left")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["open"])
    )
    bucket = pd.tseries.frequencies.to_offset(rule)
    last_close = data.index.max() + step
    ends = out.index + bucket if to != "1w" else out.index + pd.Timedelta(days=7)
    return out[ends <= last_close]


@pytest.mark.parametrize(
    ("source_tf", "step", "to", "n"),
    [
        ("1m", timedelta(minutes=1), "1h", 1000),
        ("1m", timedelta(minutes=1), "4h", 2000),
        ("1h", timedelta(hours=1), "1d", 500),
        ("1h", timedelta(hours=1), "1w", 2000),
        ("1d", timedelta(days=1), "1w", 200),
    ],
)
def test_matches_pandas_resample(source_tf: str, step: timedelta, to: str, n: int) -> None:
    start = datetime(2024, 1, 3, 7, 13, tzinfo=UTC).replace(minute=13 if source_tf == "1m" else 0)
    if source_tf == "1d":
        start = datetime(2024, 1, 3, tzinfo=UTC)
    bars = random_bars(source_tf, step, n, start)
    ours = resample_bars(bars, to)
    oracle = pandas_resample(bars, to, step)
    assert ours["timeframe"].unique().to_list() == [to]
    assert ours["ts"].to_list() == [ts.to_pydatetime() for ts in oracle.index]
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(ours[column].to_numpy(), oracle[column].to_numpy(), rtol=1e-12)


def test_weekly_bars_open_on_iso_monday_and_partial_last_bar_is_dropped() -> None:
    # 2024-01-03 is a Wednesday: the first week is partial at its start (kept), the last at its end.
    bars = random_bars("1d", timedelta(days=1), 18, datetime(2024, 1, 3, tzinfo=UTC), hole=False)
    weeks = resample_bars(bars, "1w")
    assert [ts.isoweekday() for ts in weeks["ts"]] == [1] * weeks.height
    assert weeks["ts"].to_list() == [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 8, tzinfo=UTC)]
    assert resample_bars(bars, "1w", keep_partial=True)["ts"][-1] == datetime(2024, 1, 15, tzinfo=UTC)


def test_hand_worked_hour() -> None:
    hour = datetime(2024, 5, 1, 10, tzinfo=UTC)
    rows = [(0, 10, 12, 9, 11, 1), (1, 11, 15, 10, 14, 2), (59, 14, 14, 8, 9, 3)]
    bars = pl.DataFrame(
        {
            "source": "s",
            "symbol": "X",
            "timeframe": "1m",
            "ts": [hour + timedelta(minutes=m) for m, *_ in rows],
            **{
                k: [float(r[i + 1]) for r in rows]
                for i, k in enumerate(["open", "high", "low", "close", "volume"])
            },
        },
        schema=BARS_SCHEMA,
    )
    assert resample_bars(bars, "1h").row(0) == ("s", "X", "1h", hour, 10.0, 15.0, 8.0, 9.0, 6.0)
    assert resample_bars(bars.head(2), "1h").height == 0  # 10:01 is the last bar: the hour is not over


@pytest.mark.parametrize(
    ("to", "words"),
    [("1m", "not coarser"), ("30s", "not coarser"), ("90m", "whole number"), ("bogus", "invalid timeframe")],
)
def test_finer_or_misaligned_targets_are_refused(to: str, words: str) -> None:
    bars = random_bars("1h", timedelta(hours=1), 10, datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match=words):
        resample_bars(bars, to)


def test_resampled_source_name() -> None:
    assert resampled_source("ccxt") == "resampled:ccxt"
    assert resampled_source("resampled:ccxt") == "resampled:ccxt"
