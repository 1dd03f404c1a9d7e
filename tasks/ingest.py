"""Ingest tasks: each one library call plus retries, names and logging. No logic lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.common import TRANSIENT_RETRIES, retry_on_transient
from torchtrader.ingest import IngestReport, fetch_incremental, write_validated
from torchtrader.lake import Lake
from torchtrader.quality import ValidationReport, validate_bars
from torchtrader.sources import get_source


def source_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Alpha Vantage's key may live in a Prefect Secret block named ``alphavantage-api-key``."""
    if name != "alphavantage" or "key" in options:
        return options
    from prefect.blocks.system import Secret

    try:
        key = Secret.load("alphavantage-api-key").get()
    except ValueError:
        return options  # no block: the source falls back to env vars and says what is missing
    return {**options, "key": key}


@task(name="list-symbols", cache_policy=NO_CACHE)
def list_symbols(source: str, options: dict[str, Any]) -> list[str]:
    return get_source(source, **source_options(source, options)).symbols()


@task(
    name="fetch-bars",
    task_run_name="fetch-{source}-{symbol}-{timeframe}",
    retries=TRANSIENT_RETRIES,
    retry_delay_seconds=[1, 5, 20],
    retry_condition_fn=retry_on_transient,
    cache_policy=NO_CACHE,
)
def fetch_bars(
    lake_uri: str,
    storage_options: dict[str, str],
    source: str,
    options: dict[str, Any],
    symbol: str,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
) -> pl.DataFrame:
    return fetch_incremental(
        Lake(lake_uri, storage_options),
        get_source(source, **source_options(source, options)),
        symbol,
        timeframe,
        start,
        end,
    )


@task(name="validate-bars", task_run_name="validate-{symbol}", cache_policy=NO_CACHE)
def validate(frame: pl.DataFrame, symbol: str, timeframe: str) -> ValidationReport:
    return validate_bars(frame, timeframe)


@task(name="write-bars", task_run_name="write-{source}-{symbol}-{timeframe}", cache_policy=NO_CACHE)
def write_bars(
    lake_uri: str,
    storage_options: dict[str, str],
    report: ValidationReport,
    source: str,
    symbol: str,
    timeframe: str,
    rows_fetched: int,
) -> IngestReport:
    return write_validated(
        Lake(lake_uri, storage_options),
        report,
        source=source,
        symbol=symbol,
        timeframe=timeframe,
        origin=f"{source}:{symbol}:{timeframe}",
        rows_fetched=rows_fetched,
    )


@task(name="check-freshness", cache_policy=NO_CACHE)
def check_freshness_task(
    lake_uri: str, storage_options: dict[str, str], watchlist: str
) -> list[dict[str, Any]]:
    """Ages of the watched series; one alert through the watchlist's URLs when any is stale."""
    from torchtrader.watchlist import check_freshness, load_watchlist

    found = check_freshness(Lake(lake_uri, storage_options), load_watchlist(watchlist))
    return [f.to_json() for f in found]
