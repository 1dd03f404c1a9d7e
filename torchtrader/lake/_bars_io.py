"""Fast paths for the ``bars`` table: a file index from the Delta log, direct Parquet reads, and an
append that writes one Parquet file per partition in parallel and commits them in one Delta commit.

Why not ``write_deltalake`` for appends: on this stack it writes bars at roughly a third of polars'
Parquet speed (bench/bench_lake.py); polars writes the files, Delta still owns the commit, so a crash
before the commit leaves only unreferenced files that readers never see (``Lake.vacuum`` removes them).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import AddAction, RemoveAction

from torchtrader.errors import LakeError
from torchtrader.lake._frames import split_series
from torchtrader.lake._store import TableStore, storage_errors
from torchtrader.lake.schema import BARS_PARTITION, BARS_SCHEMA

DATA_COLUMNS = [name for name in BARS_SCHEMA if name not in BARS_PARTITION]
# Delta stores timestamp statistics with millisecond precision: widen every comparison by this much.
STATS_SLACK = timedelta(milliseconds=1)
INDEX_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "source": pl.String(),
    "timeframe": pl.String(),
    "symbol": pl.String(),
    "rows": pl.Int64(),
    "first": pl.Datetime("us", "UTC"),
    "last": pl.Datetime("us", "UTC"),
}


def arrow_schema(schema: dict[str, pl.DataType]) -> pa.Schema:
    return pl.DataFrame(schema=schema).to_arrow().schema


def file_index(table: DeltaTable) -> pl.DataFrame:
    """One row per live data file of a bars snapshot: object path, partition values, rows, ts range."""
    actions = pl.DataFrame(table.get_add_actions(flatten=True))  # Arrow C stream: no pandas import
    if actions.height == 0:
        return pl.DataFrame(schema=INDEX_SCHEMA)
    for column in ("num_records", "min.ts", "max.ts"):
        if column not in actions.columns:
            actions = actions.with_columns(pl.lit(None).alias(column))
    return actions.select(
        pl.col("path").map_elements(unquote, return_dtype=pl.String),
        pl.col("partition.source").alias("source"),
        pl.col("partition.timeframe").alias("timeframe"),
        pl.col("partition.symbol").alias("symbol"),
        pl.col("num_records").cast(pl.Int64).alias("rows"),
        pl.col("min.ts").cast(pl.Datetime("us", "UTC")).alias("first"),
        pl.col("max.ts").cast(pl.Datetime("us", "UTC")).alias("last"),
    )


def read_files(
    store: TableStore,
    table: DeltaTable,
    files: pl.DataFrame,
    start: datetime | None,
    end: datetime | None,
    *,
    sort: bool = True,
) -> pl.DataFrame:
    """Canonical bars in ``files`` (rows of a file index) with start <= ts < end, sorted by series, ts."""
    if files.height == 0:
        return pl.DataFrame(schema=BARS_SCHEMA)
    if store.is_local:
        frame = _read_local(store.uri("bars"), files, start, end)
    else:
        frame = _read_dataset(table, files, start, end)
    frame = frame.select(list(BARS_SCHEMA))
    return frame.sort([*BARS_PARTITION, "ts"]) if sort else frame


def _ts_filter(start: datetime | None, end: datetime | None) -> pl.Expr:
    expr = pl.lit(True)
    if start is not None:
        expr = expr & (pl.col("ts") >= start)
    if end is not None:
        expr = expr & (pl.col("ts") < end)
    return expr


def _read_local(root: str, files: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    parts = []
    with storage_errors("reading bars"):
        for (source, timeframe, symbol), group in files.group_by(list(BARS_PARTITION)):
            paths = [f"{root}/{path}" for path in group["path"]]
            frame = pl.read_parquet(paths if len(paths) > 1 else paths[0], columns=DATA_COLUMNS)
            frame = frame.filter(_ts_filter(start, end)) if start or end else frame
            parts.append(
                frame.with_columns(
                    pl.lit(source, pl.String).alias("source"),
                    pl.lit(timeframe, pl.String).alias("timeframe"),
                    pl.lit(symbol, pl.String).alias("symbol"),
                    pl.col("ts").cast(BARS_SCHEMA["ts"]),
                )
            )
    return pl.concat(parts, how="diagonal") if len(parts) > 1 else parts[0]


def _read_dataset(
    table: DeltaTable, files: pl.DataFrame, start: datetime | None, end: datetime | None
) -> pl.DataFrame:
    expr: pc.Expression | None = None
    for (source, timeframe, symbol), _ in files.group_by(list(BARS_PARTITION)):
        one = (
            (pc.field("source") == source)
            & (pc.field("timeframe") == timeframe)
            & (pc.field("symbol") == symbol)
        )
        expr = one if expr is None else expr | one
    if start is not None:
        expr = expr & (pc.field("ts") >= pa.scalar(start, pa.timestamp("us", "UTC")))
    if end is not None:
        expr = expr & (pc.field("ts") < pa.scalar(end, pa.timestamp("us", "UTC")))
    with storage_errors("reading bars"):
        arrow = table.to_pyarrow_dataset().to_table(filter=expr)
    frame = pl.DataFrame(arrow)
    return frame.with_columns(pl.col(c).cast(t) for c, t in BARS_SCHEMA.items())


def append_bars(
    store: TableStore, table: DeltaTable | None, frame: pl.DataFrame, summary: pl.DataFrame
) -> int:
    """Commit ``frame`` (canonical bars, keys known to be new; ``summary`` from series_summary) as one
    append to ``bars``; the new version."""
    if table is None:
        table = ensure_table(store, "bars", BARS_SCHEMA, BARS_PARTITION)
    if not store.is_local:
        with storage_errors("appending to bars"):
            write_deltalake(table, frame.to_arrow(), mode="append", partition_by=list(BARS_PARTITION))
        return table.version()
    root = Path(store.root) / "bars"
    pieces = split_series(frame, summary)
    workers = max(1, min(len(pieces), os.cpu_count() or 1, 8))
    with storage_errors("appending to bars"), ThreadPoolExecutor(workers) as pool:
        actions: list[AddAction | RemoveAction] = list(
            pool.map(lambda piece: _write_piece(root, *piece), pieces)
        )
    with storage_errors("committing to bars"):
        table.create_write_transaction(
            actions, mode="append", schema=table.schema(), partition_by=list(BARS_PARTITION)
        )
        table.update_incremental()  # the commit does not move this handle forward by itself
    return table.version()


def _write_piece(root: Path, values: tuple[str, ...], part: pl.DataFrame) -> AddAction:
    folder = "/".join(
        f"{col}={quote(value, safe='')}" for col, value in zip(BARS_PARTITION, values, strict=True)
    )
    relative = f"{folder}/part-{uuid.uuid4()}-c000.zstd.parquet"
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = part.select(DATA_COLUMNS)
    data.write_parquet(path, compression="zstd", compression_level=1, statistics=True)
    first, last = data["ts"].min(), data["ts"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    stats = {
        "numRecords": data.height,
        "minValues": {"ts": _iso_ms(first, up=False)},
        "maxValues": {"ts": _iso_ms(last, up=True)},
        "nullCount": dict(zip(DATA_COLUMNS, data.null_count().row(0), strict=True)),
    }
    return AddAction(
        relative,
        path.stat().st_size,
        dict(zip(BARS_PARTITION, values, strict=True)),
        int(time.time() * 1000),
        True,
        json.dumps(stats),
    )


def _iso_ms(moment: datetime, *, up: bool) -> str:
    """Millisecond ISO timestamp, rounded outward so the file's real range stays inside [min, max]."""
    extra = moment.microsecond % 1000
    moment = moment - timedelta(microseconds=extra)
    if up and extra:
        moment += timedelta(milliseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ensure_table(
    store: TableStore, name: str, schema: dict[str, pl.DataType], partition_by: Sequence[str]
) -> DeltaTable:
    """The table, created empty (version 0) if missing; a concurrent creator winning is fine."""
    existing = store.latest(name)
    if existing is not None:
        return existing
    with storage_errors(f"creating table {name}"):
        DeltaTable.create(
            store.uri(name),
            arrow_schema(schema),
            mode="ignore",
            partition_by=list(partition_by) or None,
            storage_options=store.options(),
        )
    store.forget(name)
    created = store.latest(name)
    if created is None:
        raise LakeError(f"table {name} could not be created at {store.uri(name)}")
    return created


def merge_bars(table: DeltaTable, frame: pl.DataFrame, summary: pl.DataFrame) -> tuple[dict[str, int], int]:
    """MERGE ``frame`` into bars on the key, touching only its partitions and ts range; (metrics, version)."""
    conditions = [f"t.{c} = s.{c}" for c in (*BARS_PARTITION, "ts")]
    for column in BARS_PARTITION:
        values = ", ".join(_sql_str(v) for v in summary[column].unique().sort())
        conditions.append(f"t.{column} IN ({values})")
    first, last = summary["first"].min(), summary["last"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    conditions.append(f"t.ts >= {_sql_ts(first)} AND t.ts <= {_sql_ts(last)}")
    with storage_errors("merging into bars"):
        metrics = (
            table.merge(frame.to_arrow(), " AND ".join(conditions), source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    return {str(k): int(v) for k, v in metrics.items() if isinstance(v, int)}, table.version()


def _sql_str(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_ts(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"arrow_cast('{text}', 'Timestamp(Microsecond, Some(\"UTC\"))')"
