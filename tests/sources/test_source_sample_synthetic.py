"""The offline sources: real daily data from arch, and seeded synthetic bars that agree across ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import arch.data.nasdaq
import arch.data.sp500
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torchtrader.errors import SourceError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.sources import get_source
from torchtrader.sources.synthetic import GENESIS, SyntheticSource


@pytest.mark.parametrize(("symbol", "dataset"), [("SPX", arch.data.sp500), ("IXIC", arch.data.nasdaq)])
def test_sample_matches_arch_exactly(symbol: str, dataset: object) -> None:
    raw = dataset.load()  # type: ignore[attr-defined]
    bars = get_source("sample").fetch(symbol, "1d")
    assert bars.schema == BARS_SCHEMA
    assert bars.height == len(raw) == 5031
    assert (
        bars["ts"][0] == datetime(1999, 1, 4, tzinfo=UTC) == raw.index[0].to_pydatetime().replace(tzinfo=UTC)
    )
    assert (
        bars["ts"][-1]
        == datetime(2018, 12, 31, tzinfo=UTC)
        == raw.index[-1].to_pydatetime().replace(tzinfo=UTC)
    )
    for column in ("Open", "High", "Low", "Close", "Volume"):
        np.testing.assert_array_equal(bars[column.lower()].to_numpy(), raw[column].to_numpy(dtype=float))
    assert "adj close" not in [c.lower() for c in bars.columns]
    assert bars["ts"].is_sorted()
    assert (bars["ts"].dt.hour() == 0).all()


def test_sample_range_and_errors() -> None:
    source = get_source("sample")
    assert source.symbols() == ["SPX", "IXIC"]
    bars = source.fetch("SPX", "1d", datetime(2018, 12, 24, tzinfo=UTC), datetime(2018, 12, 31, tzinfo=UTC))
    # Christmas and the weekend are closed: 24, 26, 27, 28 December; the end is exclusive
    assert [ts.day for ts in bars["ts"]] == [24, 26, 27, 28]
    with pytest.raises(SourceError, match=r"no symbol 'NDX'.*SPX.*IXIC"):
        source.fetch("NDX", "1d")
    with pytest.raises(SourceError, match="daily bars only"):
        source.fetch("SPX", "1h")


def test_synthetic_bars_are_valid_ohlcv() -> None:
    bars = SyntheticSource().fetch("BTC/USDT", "1m", GENESIS, GENESIS + timedelta(days=3))
    assert bars.schema == BARS_SCHEMA
    assert bars.height == 3 * 1440
    checks = bars.select(
        (pl.col("high") >= pl.max_horizontal("open", "close")).all().alias("high"),
        (pl.col("low") <= pl.min_horizontal("open", "close")).all().alias("low"),
        (pl.col("low") > 0).all().alias("positive"),
        (pl.col("volume") >= 0).all().alias("volume"),
        (pl.col("open").slice(1) == pl.col("close").slice(0, pl.len() - 1)).all().alias("continuous"),
        pl.col("ts").diff().drop_nulls().eq(pl.duration(minutes=1)).all().alias("spacing"),
    )
    assert checks.row(0) == (True,) * 6
    first_close = bars["close"][0]
    assert 30_000 < first_close < 55_000  # starts near BTC's January 2024 price


def test_synthetic_is_deterministic_per_seed_symbol_and_timeframe() -> None:
    window = (GENESIS + timedelta(days=10), GENESIS + timedelta(days=11))
    a = SyntheticSource(seed=1).fetch("BTC/USDT", "5m", *window)
    assert a.equals(SyntheticSource(seed=1).fetch("BTC/USDT", "5m", *window))
    assert not np.allclose(a["close"], SyntheticSource(seed=2).fetch("BTC/USDT", "5m", *window)["close"])
    eth = SyntheticSource(seed=1).fetch("ETH/USDT", "5m", *window)
    assert eth["close"].mean() < 10_000  # a different series with its own scale
    assert SyntheticSource(seed=1).symbols() == ["BTC/USDT", "ETH/USDT"]


@settings(max_examples=25, deadline=None)
@given(
    timeframe=st.sampled_from(["1m", "15m", "1h", "4h", "1d"]),
    first=st.integers(min_value=-50, max_value=5000),
    lengths=st.tuples(st.integers(0, 2500), st.integers(0, 2500)),
    seed=st.integers(0, 2**32),
)
def test_synthetic_ranges_compose(timeframe: str, first: int, lengths: tuple[int, int], seed: int) -> None:
    """fetch([a, c)) == fetch([a, b)) + fetch([b, c)) for any split, across block boundaries too."""
    step = {"1m": 60, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}[timeframe]
    source = SyntheticSource(seed=seed)
    a = GENESIS + timedelta(seconds=first * step + 7)  # off-grid start: the next bar opens first
    b = a + timedelta(seconds=lengths[0] * step)
    c = b + timedelta(seconds=lengths[1] * step)
    whole = source.fetch("BTC/USDT", timeframe, a, c)
    parts = pl.concat([source.fetch("BTC/USDT", timeframe, a, b), source.fetch("BTC/USDT", timeframe, b, c)])
    assert whole.equals(parts)
    # bars open at indices first+1 .. first+L, none before GENESIS (index 0)
    expected_rows = max(0, first + sum(lengths) - max(0, first + 1) + 1)
    assert whole.height == expected_rows


def test_synthetic_range_rules() -> None:
    source = SyntheticSource()
    assert source.fetch("BTC/USDT", "1h", GENESIS - timedelta(days=1), GENESIS).is_empty()
    assert (
        source.fetch("BTC/USDT", "1h", GENESIS - timedelta(days=1), GENESIS + timedelta(hours=2)).height == 2
    )
    latest = source.fetch("BTC/USDT", "1d", datetime.now(UTC) - timedelta(days=3))
    assert latest["ts"][-1] < datetime.now(UTC) - timedelta(days=1)  # only closed bars
    with pytest.raises(SourceError, match="1m to 1w"):
        source.fetch("BTC/USDT", "1s")
    with pytest.raises(SourceError, match="before start"):
        source.fetch("BTC/USDT", "1h", GENESIS + timedelta(days=1), GENESIS)
    with pytest.raises(SourceError, match="seed"):
        SyntheticSource(seed=-1)


def test_synthetic_serves_its_symbols_only() -> None:
    with pytest.raises(SourceError, match=r"no symbol 'NO-SUCH-PAIR'; it serves BTC/USDT, ETH/USDT"):
        SyntheticSource().fetch("NO-SUCH-PAIR", "1h")
    window = (GENESIS, GENESIS + timedelta(days=1))
    extra = SyntheticSource(symbols=["BTC/USDT", "SOL/USDT"])
    assert extra.fetch("SOL/USDT", "1h", *window).height == 24
    # adding symbols does not change the others' bars
    assert extra.fetch("BTC/USDT", "1h", *window).equals(SyntheticSource().fetch("BTC/USDT", "1h", *window))
