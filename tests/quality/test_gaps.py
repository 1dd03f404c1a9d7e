"""Gap reports: spacing for 24/7 series, exchange sessions for stocks (weekends and holidays are not gaps)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from torchtrader.errors import ConfigError
from torchtrader.lake import BARS_SCHEMA
from torchtrader.quality.gaps import calendar_for, check_calendar, find_gaps
from torchtrader.sources import get_source


def bars(stamps: list[datetime], symbol: str = "X", timeframe: str = "1d") -> pl.DataFrame:
    n = len(stamps)
    return pl.DataFrame(
        {"source": "t", "symbol": symbol, "timeframe": timeframe, "ts": stamps}
        | {k: [1.0] * n for k in ("open", "high", "low", "close", "volume")},
        schema=BARS_SCHEMA,
    )


def days(*items: date) -> list[datetime]:
    return [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in items]


def test_hourly_crypto_gap_counts_missing_bars() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    stamps = [t0 + timedelta(hours=h) for h in (0, 1, 2, 6, 7)]
    (gap,) = find_gaps(bars(stamps, "BTC/USDT", "1h"), "1h")
    assert (gap.after, gap.before, gap.missing_bars) == (stamps[2], stamps[3], 3)


# July 2024: Thursday the 4th is Independence Day (NYSE closed); 6-7 are a weekend.
JULY = [date(2024, 7, d) for d in (1, 2, 3, 5, 8, 9)]


def test_weekends_and_holidays_are_not_gaps_on_xnys() -> None:
    assert find_gaps(bars(days(*JULY)), "1d", calendar="XNYS") == []
    naive = find_gaps(bars(days(*JULY)), "1d")  # 24/7 view: the holiday and the weekend are holes
    assert [g.missing_bars for g in naive] == [1, 2]


def test_a_missing_session_is_a_gap() -> None:
    without_wednesday = [d for d in JULY if d.day != 3]
    (gap,) = find_gaps(bars(days(*without_wednesday)), "1d", calendar="XNYS")
    assert (gap.after.day, gap.before.day, gap.missing_bars) == (2, 5, 1)  # the 3rd; the 4th was closed


def test_intraday_stock_nights_are_not_gaps() -> None:
    t = datetime(2024, 7, 1, 14, 30, tzinfo=UTC)
    stamps = [t, t + timedelta(hours=1), t + timedelta(hours=3), t + timedelta(days=1)]
    gaps = find_gaps(bars(stamps, "SPY", "1h"), "1h", calendar="XNYS")
    assert [(g.after, g.missing_bars) for g in gaps] == [(stamps[1], 1)]


def test_real_sample_history_has_no_gaps_against_the_nyse_calendar() -> None:
    spx = get_source("sample").fetch("SPX", "1d")
    assert find_gaps(spx, "1d", calendar="XNYS") == []
    assert len(find_gaps(spx, "1d")) > 1000  # every weekend, seen as 24/7


def test_calendar_choice_and_unknown_calendar() -> None:
    assert calendar_for("sample", "SPX") == "XNYS"
    assert calendar_for("ccxt", "BTC/USDT") == "24/7"
    assert calendar_for("csv", "BTC/USDT") == "24/7"
    assert calendar_for("ccxt", "BTC/USDT", "XLON") == "XLON"
    with pytest.raises(ConfigError, match=r"unknown calendar 'XFOO' \(--calendar\)"):
        check_calendar("XFOO")
