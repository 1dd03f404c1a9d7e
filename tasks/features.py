"""Feature tasks: each one library call plus names and caching rules. No logic lives here."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.indicators.fanout import (
    FEATURES_KEY,
    FEATURES_PARTITION,
    FEATURES_TABLE,
    SeriesKey,
    fan_out_features,
)
from torchtrader.lake import Lake


@task(name="list-series", cache_policy=NO_CACHE)
def list_series(
    lake_uri: str, storage_options: dict[str, str], symbols: list[str] | None, timeframes: list[str] | None
) -> tuple[int | None, list[SeriesKey]]:
    """The ``bars`` version to pin and the series of it to compute (filtered by symbol/timeframe)."""
    lake = Lake(lake_uri, storage_options=storage_options)
    version = lake.version("bars")
    found = lake.series(version=version) if version is not None else []
    keys = [
        SeriesKey(s.source, s.symbol, s.timeframe)
        for s in found
        if (symbols is None or s.symbol in symbols) and (timeframes is None or s.timeframe in timeframes)
    ]
    return version, keys


@task(name="compute-features", cache_policy=NO_CACHE)
def compute_features_on_dask(
    lake_uri: str,
    storage_options: dict[str, str],
    series: list[SeriesKey],
    feature_set: FeatureSet,
    bars_version: int,
    address: str | None,
    workers: int,
) -> Any:
    return fan_out_features(
        lake_uri,
        series,
        feature_set,
        bars_version,
        storage_options=storage_options,
        address=address,
        workers=workers,
    )


@task(name="write-features", cache_policy=NO_CACHE)
def write_features(lake_uri: str, storage_options: dict[str, str], frame: Any) -> dict[str, Any]:
    lake = Lake(lake_uri, storage_options=storage_options)
    result = lake.write_table(
        FEATURES_TABLE, frame, key=list(FEATURES_KEY), partition_by=list(FEATURES_PARTITION), mode="upsert"
    )
    return {"rows_written": result.rows_written, "features_version": result.version}
