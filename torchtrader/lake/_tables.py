"""Generic Delta tables beside ``bars``: features, backtest_runs, trades, equity, quarantine, SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import polars as pl
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
from deltalake import write_deltalake

from torchtrader.errors import LakeError
from torchtrader.lake._store import TableStore, check_table_name, one_line, storage_errors
from torchtrader.lake.results import WriteResult

WriteMode = Literal["append", "upsert", "overwrite"]
Filters: TypeAlias = Sequence[tuple[str, str, Any]] | pc.Expression
RESERVED = {"bars": "upsert_bars", "quarantine": "append_quarantine"}


def check_frame(frame: object, name: str) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        raise LakeError(f"table {name} expects a polars DataFrame, got {type(frame).__name__}")
    if frame.width == 0:
        raise LakeError(f"frame for table {name} has no columns")
    untyped = [c for c, dtype in frame.schema.items() if dtype == pl.Null]
    if untyped:
        raise LakeError(f"column {untyped[0]!r} for table {name} has no type (all nulls): cast it first")
    return frame


def write_table(
    store: TableStore,
    name: str,
    frame: pl.DataFrame,
    *,
    key: Sequence[str] | None,
    partition_by: Sequence[str] | None,
    mode: WriteMode,
    internal: bool = False,
) -> WriteResult:
    check_table_name(name)
    if name in RESERVED and not internal:
        raise LakeError(f"table {name} is written with Lake.{RESERVED[name]}(), not write_table()")
    frame = check_frame(frame, name)
    if mode not in ("append", "upsert", "overwrite"):
        raise LakeError(f"invalid write mode {mode!r}: use append, upsert or overwrite")
    parts = list(partition_by or [])
    unknown = [c for c in [*parts, *(key or [])] if c not in frame.columns]
    if unknown:
        raise LakeError(f"column {unknown[0]!r} named as key/partition is not in the frame for table {name}")
    existing = store.latest(name)
    if mode == "upsert":
        if not key:
            raise LakeError(f"upsert into table {name} needs key=[...] columns")
        _check_key(frame, list(key), name)
    if frame.height == 0 and existing is not None and mode != "overwrite":
        return WriteResult(name, 0, 0, existing.version())
    if mode == "upsert" and existing is not None:
        return _merge(store, name, frame, list(key or []))
    delta_mode: Literal["append", "overwrite"] = "overwrite" if mode == "overwrite" else "append"
    with storage_errors(f"writing table {name}"):
        write_deltalake(
            store.uri(name),
            frame.to_arrow(),
            mode=delta_mode,
            partition_by=parts or None,
            schema_mode="overwrite" if mode == "overwrite" else None,
            storage_options=store.options(),
        )
    table = store.latest(name)
    return WriteResult(name, frame.height, frame.height, None if table is None else table.version())


def _check_key(frame: pl.DataFrame, key: list[str], name: str) -> None:
    nulls = frame.select(pl.col(key).null_count()).row(0)
    if any(nulls):
        raise LakeError(f"frame for table {name} has null values in key columns {key}")
    if frame.select(pl.struct(key).is_duplicated().any()).item():
        raise LakeError(f"frame for table {name} repeats keys {key}: deduplicate before an upsert")


def _merge(store: TableStore, name: str, frame: pl.DataFrame, key: list[str]) -> WriteResult:
    table = store.latest(name)
    assert table is not None
    conditions = [f"t.`{c}` = s.`{c}`" for c in key]
    for column in table.metadata().partition_columns:
        if column in frame.columns and frame.schema[column] == pl.String:
            values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in frame[column].unique().sort())
            conditions.append(f"t.`{column}` IN ({values})")
    with storage_errors(f"upserting into table {name}"):
        metrics = (
            table.merge(frame.to_arrow(), " AND ".join(conditions), source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    return WriteResult(
        name,
        frame.height,
        int(metrics.get("num_target_rows_inserted", 0)),
        store.latest(name).version(),  # type: ignore[union-attr]
        rows_updated=int(metrics.get("num_target_rows_updated", 0)),
    )


def read_table(
    store: TableStore,
    name: str,
    *,
    version: int | None,
    filters: Filters | None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    check_table_name(name)
    table = store.at(name, version)
    with storage_errors(f"reading table {name}"):
        expression = filters if isinstance(filters, pc.Expression) or filters is None else None
        if expression is None and filters is not None:
            expression = pq.filters_to_expression(list(filters))
        dataset = table.to_pyarrow_dataset()
        arrow = dataset.to_table(columns=list(columns) if columns else None, filter=expression)
    return pl.DataFrame(arrow)


def run_sql(store: TableStore, query: str, *, version: int | None) -> pl.DataFrame:
    """DuckDB over every table of the lake, each registered by name as an Arrow dataset.

    ``version`` pins ``bars`` (the version results record); the other tables are read at their latest.
    """
    if not isinstance(query, str) or not query.strip():
        raise LakeError("SQL query is empty")
    names = store.names()
    if version is not None and "bars" not in names:
        raise LakeError("cannot pin a version: the lake has no bars table yet")
    import duckdb  # deferred: only SQL needs it, and it costs start-up time in every worker

    connection = duckdb.connect(":memory:")
    try:
        for name in names:
            table = store.at(name, version if name == "bars" else None)
            with storage_errors(f"opening table {name} for SQL"):
                connection.register(name, table.to_pyarrow_dataset())
        try:
            relation = connection.sql(query)
            if relation is None:  # a statement without a result set (SET, CREATE VIEW, ...)
                return pl.DataFrame()
            arrow = relation.to_arrow_table()
        except duckdb.Error as error:
            raise LakeError(f"SQL failed: {one_line(error)}") from error
    finally:
        connection.close()
    return pl.DataFrame(arrow)
