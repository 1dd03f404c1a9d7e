"""Corporate actions at the adapter boundary: yfinance `Ticker.actions` frames, AV adjusted daily."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests_mock as rm

from torchtrader.errors import SourceError
from torchtrader.ingest import ingest_actions
from torchtrader.lake import Lake
from torchtrader.sources.actions import yfinance_actions
from torchtrader.sources.alphavantage_source import AlphaVantageSource

DATA = Path(__file__).parents[1] / "data"


def yahoo_actions(_: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / "yfinance_actions_aapl.csv")
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("Date"), utc=True)).tz_convert("America/New_York")
    frame.index = index.rename("Date")
    return frame


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_yfinance_dividends_before_a_split_become_the_cash_paid() -> None:
    actions = yfinance_actions("AAPL", loader=yahoo_actions)
    rows = [(r["ts"], r["kind"], r["value"]) for r in actions.iter_rows(named=True)]
    # Yahoo shows 0.205 for the pre-split payouts; 0.205 x 4 = 0.82 is what was paid per old share
    assert rows == [
        (day(2020, 5, 8), "dividend", 0.82),
        (day(2020, 8, 7), "dividend", 0.82),
        (day(2020, 8, 31), "split", 4.0),
        (day(2020, 11, 6), "dividend", 0.205),
    ]
    assert actions["source"].unique().to_list() == ["yfinance"]


def test_yfinance_failures_are_source_errors() -> None:
    def broken(_: str) -> pd.DataFrame:
        raise RuntimeError("HTTP 404")

    with pytest.raises(SourceError, match="yfinance AAPL actions: RuntimeError: HTTP 404"):
        yfinance_actions("AAPL", loader=broken)
    with pytest.raises(SourceError, match="missing Stock Splits"):
        yfinance_actions("AAPL", loader=lambda _: pd.DataFrame({"Dividends": [1.0]}))


def test_alphavantage_adjusted_daily_into_the_lake(monkeypatch: pytest.MonkeyPatch, lake_uri: str) -> None:
    payload: Any = json.loads((DATA / "alphavantage_daily_adjusted_aapl.json").read_text())
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", "AV-TEST")
    with rm.Mocker() as http:
        http.get("https://www.alphavantage.co/query", json=payload)
        actions = AlphaVantageSource(timeout=1.0).actions("AAPL")
        assert http.last_request.qs["function"] == ["time_series_daily_adjusted"]
        lake = Lake(lake_uri)
        assert ingest_actions(lake, "alphavantage", "AAPL") == 2
        assert ingest_actions(lake, "alphavantage", "AAPL") == 2  # re-ingest keeps one row per event
    assert [(r["ts"], r["kind"], r["value"]) for r in actions.iter_rows(named=True)] == [
        (day(2020, 8, 7), "dividend", 0.82),
        (day(2020, 8, 31), "split", 4.0),
    ]


def test_sources_without_actions_say_so(lake_uri: str) -> None:
    with pytest.raises(SourceError, match="source 'ccxt' has no corporate actions"):
        ingest_actions(Lake(lake_uri), "ccxt", "BTC/USDT")
