"""Checks and summaries of the frames handed to the lake (pure polars, no storage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import polars as pl

from torchtrader.errors import LakeError
from torchtrader.lake.schema import BARS_PARTITION


def conform(frame: object, schema: Mapping[str, pl.DataType], table: str) -> pl.DataFrame:
    """``frame`` in ``schema``'s column order; LakeError naming the first mismatch otherwise.

    Only lossless fixes are made: column order, and a UTC timestamp in another time unit.
    """
    if not isinstance(frame, pl.DataFrame):
        raise LakeError(f"{table} expects a polars DataFrame, got {type(frame).__name__}")
    missing = [name for name in schema if name not in frame.columns]
    extra = [name for name in frame.columns if name not in schema]
    if missing or extra:
        raise LakeError(
            f"frame does not match the {table} schema: missing columns {missing}, unexpected columns {extra}"
        )
    casts = []
    for name, dtype in schema.items():
        actual = frame.schema[name]
        if actual == dtype:
            continue
        if (
            isinstance(dtype, pl.Datetime)
            and isinstance(actual, pl.Datetime)
            and actual.time_zone == dtype.time_zone
        ):
            casts.append(pl.col(name).dt.cast_time_unit(dtype.time_unit))
            continue
        raise LakeError(f"column {name!r} of the {table} frame is {actual}, expected {dtype}")
    return frame.select(list(schema)).with_columns(casts) if casts else frame.select(list(schema))


def require_no_null_keys(frame: pl.DataFrame, key: Sequence[str], table: str) -> None:
    counts = frame.select(pl.col(list(key)).null_count()).row(0)
    for name, count in zip(key, counts, strict=True):
        if count:
            raise LakeError(f"{table} frame has {count} null value(s) in key column {name!r}")


def series_summary(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(frame with each series contiguous and ts strictly increasing within it, one row per series).

    The summary holds the partition columns, ``offset`` and ``rows`` (the series' slice of the frame),
    ``first`` and ``last``. Sources deliver sorted series, so the common case is one linear pass with no
    sort and no hashing. Raises LakeError when a series repeats a timestamp.
    """
    summary = _runs(frame)
    if summary is not None:
        return frame, summary
    ordered = frame.sort([*BARS_PARTITION, "ts"])
    summary = _runs(ordered)
    if summary is None:
        dup = ordered.filter(pl.struct(*BARS_PARTITION, "ts").is_duplicated()).row(0, named=True)
        raise LakeError(
            f"frame repeats the key ({dup['source']}, {dup['symbol']}, {dup['timeframe']}, {dup['ts']}): "
            "deduplicate or validate before writing"
        )
    return ordered, summary


def _runs(frame: pl.DataFrame) -> pl.DataFrame | None:
    """Summary of the frame's runs of equal partition values, or None unless every run is a whole
    series with strictly increasing ts."""
    starts_run = pl.any_horizontal([pl.col(c) != pl.col(c).shift(1) for c in BARS_PARTITION]).fill_null(True)
    steps_up = pl.col("ts").diff().dt.total_microseconds().fill_null(1) > 0
    marks = frame.select(starts_run.alias("start"), (steps_up | starts_run).alias("ok"))
    if not marks["ok"].all():
        return None
    offsets = marks["start"].arg_true()
    ends = pl.concat([offsets.slice(1), pl.Series([frame.height], dtype=offsets.dtype)]) - 1
    summary = (
        frame.select(BARS_PARTITION)
        .gather(offsets)
        .with_columns(
            offset=offsets,
            rows=(ends - offsets + 1).cast(pl.Int64),
            first=frame["ts"].gather(offsets),
            last=frame["ts"].gather(ends),
        )
    )
    if summary.select(pl.struct(BARS_PARTITION).n_unique()).item() != summary.height:
        return None  # a series appears in several runs: interleaved input
    return summary


def split_series(frame: pl.DataFrame, summary: pl.DataFrame) -> list[tuple[tuple[str, ...], pl.DataFrame]]:
    """Partition values and zero-copy slice of each series, from ``series_summary``'s output."""
    return [
        (tuple(str(row[c]) for c in BARS_PARTITION), frame.slice(row["offset"], row["rows"]))
        for row in summary.iter_rows(named=True)
    ]


def utc_or_none(moment: datetime | None, name: str) -> datetime | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise LakeError(f"{name} must be a datetime, got {type(moment).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
