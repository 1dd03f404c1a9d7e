"""The alphavantage source, through the real alpha_vantage client, against Alpha Vantage's JSON formats."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import requests_mock as rm

from torchtrader.errors import SourceError, SourceUnavailableError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.sources import get_source
from torchtrader.sources.alphavantage_source import AlphaVantageSource
from torchtrader.testing.fixtures import load_json

URL = "https://www.alphavantage.co/query"
KEY = "AV-TEST-KEY-0042"


@pytest.fixture
def http() -> Any:
    with rm.Mocker() as mocker:
        yield mocker


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> AlphaVantageSource:
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)
    return AlphaVantageSource(key=KEY, timeout=1.0)


def test_daily_bars_oldest_first_at_utc_midnight(http: Any, source: AlphaVantageSource) -> None:
    http.get(URL, json=load_json("alphavantage_daily_ibm.json"))
    bars = source.fetch("IBM", "1d")
    assert bars.schema == BARS_SCHEMA
    assert bars["ts"].to_list() == [datetime(2024, 1, day, tzinfo=UTC) for day in (2, 3, 4, 5)]
    assert bars.row(0) == (
        "alphavantage",
        "IBM",
        "1d",
        datetime(2024, 1, 2, tzinfo=UTC),
        161.8,
        162.0,
        160.67,
        161.51,
        3697503.0,
    )
    query = http.last_request.qs
    assert query["function"] == ["time_series_daily"]  # requests_mock lower-cases query values
    assert query["symbol"] == ["ibm"]
    assert query["outputsize"] == ["full"]  # no start: the whole history


def test_recent_start_asks_for_compact_and_clips(http: Any, source: AlphaVantageSource) -> None:
    http.get(URL, json=load_json("alphavantage_daily_ibm.json"))
    start = datetime.now(UTC).replace(year=2024, month=1, day=3, hour=0, minute=0, second=0, microsecond=0)
    bars = source.fetch("IBM", "1d", start, datetime(2024, 1, 5, tzinfo=UTC))
    assert [ts.day for ts in bars["ts"]] == [3, 4]
    compact = AlphaVantageSource(key=KEY)
    compact.fetch("IBM", "1d", datetime.now(UTC))
    assert http.last_request.qs["outputsize"] == ["compact"]


def test_intraday_us_eastern_times_become_utc(http: Any, source: AlphaVantageSource) -> None:
    http.get(URL, json=load_json("alphavantage_intraday_ibm_5min.json"))
    bars = source.fetch("IBM", "5m")
    # 09:50 New York in January (EST, UTC-5) is 14:50 UTC
    assert bars["ts"].to_list() == [datetime(2024, 1, 5, 14, m, tzinfo=UTC) for m in (50, 55)] + [
        datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
    ]
    assert http.last_request.qs["interval"] == ["5min"]
    assert http.last_request.qs["function"] == ["time_series_intraday"]


def test_old_intraday_start_requests_month_by_month(http: Any, source: AlphaVantageSource) -> None:
    http.get(URL, json=load_json("alphavantage_intraday_ibm_5min.json"))
    bars = source.fetch("IBM", "5m", datetime(2023, 12, 15, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    assert [r.qs["month"] for r in http.request_history] == [["2023-12"], ["2024-01"], ["2024-02"]]
    assert bars.height == 3  # the same month fixture thrice collapses to its three bars


@pytest.mark.parametrize(
    ("payload", "error", "words"),
    [
        (
            {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls/minute."},
            SourceUnavailableError,
            "rate limit",
        ),
        (
            {"Information": "Thank you for using Alpha Vantage! Our rate limit is 25 requests per day."},
            SourceUnavailableError,
            "25 requests per day",
        ),
        (
            {"Information": "Thank you for using Alpha Vantage! This is a premium endpoint."},
            SourceError,
            "premium endpoint",
        ),
        (
            {"Error Message": "Invalid API call. Please retry or visit the documentation."},
            SourceError,
            "Invalid API call",
        ),
        ({"Meta Data": {}, "Unexpected": {}}, SourceError, "unexpected response"),
        ({}, SourceError, "garbage response"),
    ],
    ids=[
        "Note rate limit",
        "Information rate limit",
        "premium",
        "Error Message",
        "missing series",
        "empty object",
    ],
)
def test_in_band_messages(
    http: Any, source: AlphaVantageSource, payload: dict[str, Any], error: type[Exception], words: str
) -> None:
    http.get(URL, json=payload)
    with pytest.raises(error, match=words) as caught:
        source.fetch("IBM", "1d")
    if error is SourceError:
        assert not isinstance(caught.value, SourceUnavailableError)


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (
            {"status_code": 503, "text": "<html>Service Unavailable</html>"},
            SourceUnavailableError,
            "HTTP 503",
        ),
        ({"status_code": 500, "text": "oops"}, SourceUnavailableError, "HTTP 500"),
        ({"status_code": 429, "text": "slow down"}, SourceUnavailableError, "HTTP 429"),
        ({"status_code": 403, "text": "forbidden"}, SourceError, "HTTP 403"),
        ({"status_code": 200, "text": "<html>not json</html>"}, SourceError, "garbage response"),
        ({"exc": requests.exceptions.ConnectTimeout}, SourceUnavailableError, "no answer within 1s"),
        ({"exc": requests.exceptions.ConnectionError}, SourceUnavailableError, "connection failed"),
    ],
    ids=["503", "500", "429", "403", "garbage", "timeout", "connection"],
)
def test_http_failures(
    http: Any, source: AlphaVantageSource, response: dict[str, Any], error: type[Exception], words: str
) -> None:
    http.get(URL, **response)
    with pytest.raises(error, match=words):
        source.fetch("IBM", "1d")


def test_garbage_numbers_are_a_source_error(http: Any, source: AlphaVantageSource) -> None:
    payload = load_json("alphavantage_daily_ibm.json")
    payload["Time Series (Daily)"]["2024-01-05"]["2. high"] = "n/a"
    http.get(URL, json=payload)
    with pytest.raises(SourceError, match="unexpected response"):
        source.fetch("IBM", "1d")


def test_key_never_in_errors_logs_or_repr(
    http: Any, source: AlphaVantageSource, caplog: pytest.LogCaptureFixture
) -> None:
    http.get(URL, json={"Error Message": f"the apikey {KEY} is not valid for this call"})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as caught:
        source.fetch("IBM", "1d")
    assert KEY not in str(caught.value)
    assert "***" in str(caught.value)
    assert KEY not in repr(source)
    http.get(URL, json=load_json("alphavantage_daily_ibm.json"))
    source.fetch("IBM", "1d")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("torchtrader", "urllib3"))]
    assert ours
    assert not any(KEY in message for message in ours)
    assert http.last_request.qs["apikey"] == [KEY.lower()]  # requests_mock lower-cases query values


def test_key_resolution(monkeypatch: pytest.MonkeyPatch, http: Any) -> None:
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)
    monkeypatch.delenv("TORCHTRADER_ALPHAVANTAGE_KEY", raising=False)
    with pytest.raises(SourceError, match="needs an API key"):
        get_source("alphavantage")
    monkeypatch.setenv("TORCHTRADER_ALPHAVANTAGE_KEY", "from-settings")
    http.get(URL, json=load_json("alphavantage_daily_ibm.json"))
    get_source("alphavantage").fetch("IBM", "1d")
    assert http.last_request.qs["apikey"] == ["from-settings"]
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", "from-env")
    get_source("alphavantage").fetch("IBM", "1d")
    assert http.last_request.qs["apikey"] == ["from-env"]


def test_unsupported_timeframe(source: AlphaVantageSource) -> None:
    with pytest.raises(SourceError, match="no '4h' bars"):
        source.fetch("IBM", "4h")


def test_urllib3_debug_lines_have_the_key_redacted(
    source: AlphaVantageSource, caplog: pytest.LogCaptureFixture
) -> None:
    """urllib3 logs each request line at DEBUG, query string included; the source installs a redactor."""
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s',
        "https",
        "www.alphavantage.co",
        443,
        "GET",
        f"/query?function=TIME_SERIES_DAILY&symbol=IBM&apikey={KEY}&datatype=json",
        "HTTP/1.1",
        200,
        None,
    )
    assert KEY not in caplog.text
    assert "apikey=***&datatype=json" in caplog.text
