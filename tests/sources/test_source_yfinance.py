"""The yfinance adapter, tested at its boundary with frames in yfinance's documented shape."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import yfinance as yf
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from torchtrader.errors import SourceError, SourceUnavailableError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.sources import get_source
from torchtrader.sources.yfinance_source import YFinanceSource, yfinance_download
from torchtrader.testing.fixtures import yfinance_frame

JAN_6 = datetime(2024, 1, 6, tzinfo=UTC)


class Recorder:
    """A downloader that returns prepared frames (or raises) and records each call's arguments."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, symbol: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"symbol": symbol, **kwargs})
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result


def test_daily_bars_land_on_utc_midnight_of_the_trading_date() -> None:
    downloader = Recorder(yfinance_frame("yfinance_spy_1d.csv"))
    bars = YFinanceSource(downloader=downloader).fetch("SPY", "1d", datetime(2024, 1, 1, tzinfo=UTC))
    assert bars.schema == BARS_SCHEMA
    # New York midnight is 05:00 UTC; a daily bar still belongs to its trading date
    assert bars["ts"].to_list() == [datetime(2024, 1, d, tzinfo=UTC) for d in (2, 3, 4, 5)]
    assert bars.row(0) == (
        "yfinance",
        "SPY",
        "1d",
        datetime(2024, 1, 2, tzinfo=UTC),
        472.16,
        473.67,
        470.49,
        472.65,
        123623700.0,
    )
    assert downloader.calls == [
        {
            "symbol": "SPY",
            "start": datetime(2024, 1, 1, tzinfo=UTC),
            "end": None,
            "interval": "1d",
            "auto_adjust": True,
        }
    ]


def test_adj_close_is_ignored_and_end_is_exclusive() -> None:
    source = YFinanceSource(auto_adjust=False, downloader=Recorder(yfinance_frame("yfinance_spy_1d.csv")))
    bars = source.fetch("SPY", "1d", datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC))
    assert [ts.day for ts in bars["ts"]] == [3, 4]
    assert bars.columns == list(BARS_SCHEMA)


def test_intraday_bars_keep_their_true_utc_open() -> None:
    downloader = Recorder(yfinance_frame("yfinance_spy_5m.csv"))
    source = YFinanceSource(downloader=downloader, clock=lambda: JAN_6)
    bars = source.fetch("SPY", "5m")
    # 09:30 New York in January (EST, UTC-5) is 14:30 UTC
    assert bars["ts"].to_list() == [datetime(2024, 1, 5, 14, m, tzinfo=UTC) for m in (30, 35, 40)]
    # no start: as far back as Yahoo serves 5m bars (60 days, minus a little slack)
    assert JAN_6 - timedelta(days=60) < downloader.calls[0]["start"] < JAN_6 - timedelta(days=59)


def test_one_minute_history_is_split_into_requests_yahoo_accepts() -> None:
    downloader = Recorder(pd.DataFrame())
    downloader.results = [yfinance_frame("yfinance_spy_5m.csv")]
    start = JAN_6 - timedelta(days=20)
    YFinanceSource(downloader=downloader, clock=lambda: JAN_6).fetch("SPY", "1m", start)
    spans = [(call["start"], call["end"]) for call in downloader.calls]
    assert len(spans) == 3
    assert spans[0][0] == start
    assert all(hi - lo <= timedelta(days=8) for lo, hi in spans[:-1])
    assert spans[-1][1] is None  # the newest request runs to "now"


def test_intraday_start_beyond_yahoos_window_is_refused() -> None:
    with pytest.raises(SourceError, match="last 60 days only"):
        YFinanceSource(downloader=Recorder(pd.DataFrame())).fetch(
            "SPY", "5m", datetime(2020, 1, 1, tzinfo=UTC)
        )


def test_empty_frame_means_no_data() -> None:
    with pytest.raises(SourceError, match="no data for NOPE 1d") as caught:
        YFinanceSource(downloader=Recorder(pd.DataFrame())).fetch("NOPE", "1d")
    assert not isinstance(caught.value, SourceUnavailableError)


@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (YFRateLimitError(), SourceUnavailableError),
        (TimeoutError("Read timed out"), SourceUnavailableError),
        (RuntimeError("HTTP Error 503: Service Unavailable"), SourceUnavailableError),
        (YFPricesMissingError("NOPE", ""), SourceError),
        (ValueError("bad interval"), SourceError),
    ],
    ids=["rate limit", "timeout", "503", "prices missing", "other"],
)
def test_raised_errors_are_mapped(raised: Exception, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        YFinanceSource(downloader=Recorder(raised)).fetch("NOPE", "1d")
    assert type(caught.value) is error
    assert "\n" not in str(caught.value)


def test_unexpected_frames_are_source_errors() -> None:
    frame = yfinance_frame("yfinance_spy_1d.csv")
    multi = frame.copy()
    multi.columns = pd.MultiIndex.from_product([multi.columns, ["SPY"]])
    with pytest.raises(SourceError, match="multi-level columns"):
        YFinanceSource(downloader=Recorder(multi)).fetch("SPY", "1d")
    with pytest.raises(SourceError, match="missing Volume"):
        YFinanceSource(downloader=Recorder(frame.drop(columns=["Volume"]))).fetch("SPY", "1d")
    with pytest.raises(SourceError, match="expected a DataFrame"):
        YFinanceSource(downloader=Recorder(None)).fetch("SPY", "1d")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="no '4h' bars"):
        get_source("yfinance").fetch("SPY", "4h")


def test_default_downloader_calls_yf_download_with_flat_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_download(*args: Any, **kwargs: Any) -> pd.DataFrame:
        inspect.signature(yf.download).bind(*args, **kwargs)  # the real function accepts these arguments
        seen.update(kwargs, tickers=args[0])
        return yfinance_frame("yfinance_spy_1d.csv")

    monkeypatch.setattr(yf, "download", fake_download)
    frame = yfinance_download("SPY", start=None, end=None, interval="1d", auto_adjust=True)
    assert len(frame) == 4
    assert seen["multi_level_index"] is False
    assert seen["progress"] is False
    assert seen["period"] == "max"
    assert seen["tickers"] == "SPY"
