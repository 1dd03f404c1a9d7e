"""Resampling: coarser bars from finer ones (1m -> 1h, 1h -> 1d, 1d -> 1w ...), pure polars.

Buckets are aligned to UTC boundaries counted from the epoch (so 4h bars open at 00, 04, 08 ... UTC and
daily bars at UTC midnight); weekly bars use ISO weeks (they open on Monday 00:00 UTC). Each bucket is
labelled with its open time, like every bar in the lake: open = first open, high = max, low = min,
close = last close, volume = sum. Buckets without any input bar produce no bar (a gap stays a gap).
The last bucket is dropped while it is still *partial* (the input stops before the bucket's end), so a
stored 1h bar never changes once written; a re-run after more 1m bars arrive adds the finished bucket.
"""

from __future__ import annotations

import polars as pl

from torchtrader.errors import ConfigError, DataError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.timeframes import timeframe_seconds

_US = 1_000_000
_WEEK_US = 7 * 86_400 * _US
# 1970-01-05 was a Monday: ISO weeks open on Mondays, not on the epoch's Thursday.
_MONDAY_US = 4 * 86_400 * _US
RESAMPLED_PREFIX = "resampled:"


def check_resample(from_timeframe: str, to_timeframe: str) -> tuple[int, int]:
    """(from µs, to µs) when ``to`` is a whole multiple of ``from``; else ConfigError naming the option."""
    source_us = timeframe_seconds(from_timeframe) * _US
    target_us = timeframe_seconds(to_timeframe) * _US
    if target_us <= source_us:
        raise ConfigError(
            f"--to {to_timeframe} is not coarser than --from {from_timeframe}: "
            "resampling only aggregates (pick a longer --to)"
        )
    if target_us % source_us:
        raise ConfigError(
            f"--to {to_timeframe} is not a whole number of --from {from_timeframe} bars: pick a multiple"
        )
    anchor = _MONDAY_US if target_us % _WEEK_US == 0 else 0
    if anchor and _MONDAY_US % source_us:
        raise ConfigError(f"--from {from_timeframe} bars cannot tile Monday-aligned {to_timeframe} weeks")
    return source_us, target_us


def resample_bars(frame: pl.DataFrame, to_timeframe: str, *, keep_partial: bool = False) -> pl.DataFrame:
    """Canonical bars of one or more series resampled to ``to_timeframe`` (see the module docstring).

    ``frame`` holds canonical bars of a single timeframe; source and symbol are kept, ``timeframe``
    becomes ``to_timeframe``. The partial last bucket of each series is dropped unless ``keep_partial``.
    """
    missing = [name for name in BARS_SCHEMA if name not in frame.columns]
    if missing:
        raise DataError(f"resample needs canonical bars; the frame lacks {', '.join(missing)}")
    timeframes = frame["timeframe"].unique().to_list()
    if len(timeframes) > 1:
        raise DataError(
            f"resample needs bars of one timeframe, got {', '.join(sorted(map(str, timeframes)))}"
        )
    if frame.height == 0:
        return frame.select(list(BARS_SCHEMA)).with_columns(pl.lit(to_timeframe).alias("timeframe"))
    source_us, target_us = check_resample(str(timeframes[0]), to_timeframe)
    anchor = _MONDAY_US if target_us % _WEEK_US == 0 else 0
    ts_us = pl.col("ts").dt.epoch("us")
    bucket = (ts_us - anchor) // target_us * target_us + anchor
    grouped = (
        frame.sort("source", "symbol", "ts")
        .with_columns(bucket.alias("_bucket"), ts_us.alias("_ts_us"))
        .group_by("source", "symbol", "_bucket", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.col("_ts_us").max().alias("_last_us"),
        )
    )
    if not keep_partial:
        # A bucket is finished when its series reaches its end: the last input bar closes at or after it.
        reached = pl.col("_last_us").max().over("source", "symbol") + source_us
        grouped = grouped.filter(reached >= pl.col("_bucket") + target_us)
    return grouped.select(
        pl.col("source"),
        pl.col("symbol"),
        pl.lit(to_timeframe, pl.String).alias("timeframe"),
        pl.from_epoch(pl.col("_bucket"), time_unit="us").dt.replace_time_zone("UTC").alias("ts"),
        *(pl.col(name).cast(pl.Float64) for name in ("open", "high", "low", "close", "volume")),
    )


def resampled_source(source: str) -> str:
    """The source name a resampled series is stored under: ``resampled:<source>``."""
    return source if source.startswith(RESAMPLED_PREFIX) else f"{RESAMPLED_PREFIX}{source}"
