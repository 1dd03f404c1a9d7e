"""Checks and summaries of the frames handed to the lake (pure polars, no storage)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

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
    """(frame sorted by series and ts, one row per series: first, last, rows).

    Raises LakeError when a series repeats a timestamp: validation must settle conflicts first.
    """
    ordered = frame
    summary = _summarise(ordered)
    if not summary["increasing"].all():
        ordered = frame.sort([*BARS_PARTITION, "ts"])
        summary = _summarise(ordered)
        if not summary["increasing"].all():
            dup = ordered.filter(pl.struct(*BARS_PARTITION, "ts").is_duplicated()).row(0, named=True)
            raise LakeError(
                f"frame repeats the key ({dup['source']}, {dup['symbol']}, {dup['timeframe']}, {dup['ts']}): "
                "deduplicate or validate before writing"
            )
    return ordered, summary.drop("increasing")


def _summarise(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by(list(BARS_PARTITION), maintain_order=True).agg(
        pl.col("ts").min().alias("first"),
        pl.col("ts").max().alias("last"),
        pl.len().alias("rows"),
        (pl.col("ts").diff().dt.total_microseconds().fill_null(1) > 0).all().alias("increasing"),
    )


def split_partitions(
    frame: pl.DataFrame, partition_by: Sequence[str], groups: int
) -> list[tuple[tuple[str, ...], pl.DataFrame]]:
    """Partition values and rows of each of ``groups`` partitions; zero-copy slices when contiguous."""
    cols = list(partition_by)
    if not cols:
        return [((), frame)]
    changed = pl.any_horizontal([pl.col(c) != pl.col(c).shift(1) for c in cols]).fill_null(True)
    starts = frame.select(changed.arg_true().alias("start"))["start"].to_list()
    if len(starts) == groups:
        bounds = [*starts, frame.height]
        out = []
        for begin, end in itertools.pairwise(bounds):
            part = frame.slice(begin, end - begin)
            out.append((tuple(str(part[c][0]) for c in cols), part))
        return out
    split = frame.partition_by(cols, maintain_order=True, as_dict=True)
    return [(tuple(str(v) for v in key), part) for key, part in split.items()]
