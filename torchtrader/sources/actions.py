"""Corporate actions from the stock sources, as ``corporate_actions`` rows (see lake/corporate_actions.py).

- yfinance: ``yf.Ticker(symbol).actions``, a frame indexed by ex-date (exchange timezone) with columns
  ``Dividends`` and ``Stock Splits`` (0 where there is no event; some versions add ``Capital Gains``).
  Yahoo back-adjusts dividends for later splits, so each dividend is multiplied by the ratios of the
  splits after it to give the cash *as paid*, the table's convention.
- Alpha Vantage: TIME_SERIES_DAILY_ADJUSTED (``get_daily_adjusted``) rows carry ``7. dividend amount``
  (as paid) and ``8. split coefficient`` (1.0 on ordinary days).

Both return ACTIONS_SCHEMA frames with ex-dates at UTC midnight of the exchange date, like daily bars.
The network calls are injectable (``loader``) so the adapters are tested at their boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl

from torchtrader.errors import SourceError
from torchtrader.lake.corporate_actions import empty_actions, to_actions

ActionsLoader = Callable[[str], pd.DataFrame]


def _exchange_dates(index: pd.Index) -> list[Any]:
    stamps = pd.DatetimeIndex(pd.to_datetime(index))
    local = stamps.tz_localize(None) if stamps.tz is not None else stamps
    return list(local.normalize().tz_localize("UTC").as_unit("us").to_pydatetime())


def yfinance_loader(symbol: str) -> pd.DataFrame:
    import yfinance as yf  # deferred: heavy, only this call needs it

    frame = yf.Ticker(symbol).actions
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def yfinance_actions(symbol: str, *, loader: ActionsLoader = yfinance_loader) -> pl.DataFrame:
    """Splits and cash dividends of ``symbol`` from Yahoo, dividends un-adjusted to the paid amount."""
    try:
        raw = loader(symbol)
    except Exception as error:  # yfinance raises many unrelated types
        raise SourceError(f"yfinance {symbol} actions: {type(error).__name__}: {str(error)[:200]}") from None
    if raw.empty:
        return empty_actions()
    missing = [c for c in ("Dividends", "Stock Splits") if c not in raw.columns]
    if missing:
        raise SourceError(f"yfinance {symbol} actions: unexpected frame (missing {', '.join(missing)})")
    frame = pl.DataFrame(
        {
            "ts": _exchange_dates(raw.index),
            "dividend": pd.to_numeric(raw["Dividends"], errors="coerce").to_numpy(dtype="float64"),
            "split": pd.to_numeric(raw["Stock Splits"], errors="coerce").to_numpy(dtype="float64"),
        }
    ).sort("ts")
    split = pl.when(pl.col("split") > 0).then(pl.col("split")).otherwise(1.0)
    # product of the ratios of the splits strictly after each row: the dividend's back-adjustment
    later = (split.reverse().cum_prod().reverse() / split).alias("later")
    frame = frame.with_columns(later)
    dividends = frame.filter(pl.col("dividend") > 0).select(
        "ts", pl.lit("dividend").alias("kind"), (pl.col("dividend") * pl.col("later")).alias("value")
    )
    splits = frame.filter((pl.col("split") > 0) & (pl.col("split") != 1.0)).select(
        "ts", pl.lit("split").alias("kind"), pl.col("split").alias("value")
    )
    return _rows(pl.concat([splits, dividends]), symbol, "yfinance")


def alphavantage_actions(data: pd.DataFrame, symbol: str) -> pl.DataFrame:
    """Splits and dividends from a TIME_SERIES_DAILY_ADJUSTED frame (alpha_vantage's pandas output)."""
    fields = {"7. dividend amount": "dividend", "8. split coefficient": "split"}
    if not isinstance(data, pd.DataFrame) or not set(fields) <= set(data.columns):
        raise SourceError(f"alphavantage {symbol}: no {', '.join(fields)} columns (adjusted daily needed)")
    frame = pl.DataFrame(
        {
            "ts": _exchange_dates(data.index),
            **{
                name: pd.to_numeric(data[field], errors="coerce").to_numpy() for field, name in fields.items()
            },
        }
    )
    dividends = frame.filter(pl.col("dividend") > 0).select(
        "ts", pl.lit("dividend").alias("kind"), pl.col("dividend").alias("value")
    )
    splits = frame.filter(pl.col("split") != 1.0).select(
        "ts", pl.lit("split").alias("kind"), pl.col("split").alias("value")
    )
    return _rows(pl.concat([splits, dividends]), symbol, "alphavantage")


def _rows(events: pl.DataFrame, symbol: str, source: str) -> pl.DataFrame:
    return to_actions(
        events.with_columns(
            pl.lit(symbol).alias("symbol"),
            pl.lit(source).alias("source"),
            pl.col("ts").cast(pl.Datetime("us", "UTC")),
        )
    )


def fetch_actions(source: str, symbol: str, *, key: str | None = None) -> pl.DataFrame:
    """Corporate actions of ``symbol`` from a stock source (yfinance or alphavantage)."""
    if source == "yfinance":
        return yfinance_actions(symbol)
    if source == "alphavantage":
        from torchtrader.sources.alphavantage_source import AlphaVantageSource

        return AlphaVantageSource(key).actions(symbol)
    raise SourceError(f"source {source!r} has no corporate actions; use yfinance or alphavantage")
