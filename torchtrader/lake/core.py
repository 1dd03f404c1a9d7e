"""The lake: versioned Delta tables under one root (a directory or an ``s3://`` prefix).

``bars`` is partitioned by (source, timeframe, symbol) and written only through ``upsert_bars``, which is
idempotent on (source, symbol, timeframe, ts). Every write is one Delta commit (atomic: readers see all
of it or none of it) and reports the new table version; every read can name a version (time travel).
One writer per series at a time is assumed (the ingest flow fans out per symbol); concurrent commits to
other partitions are safe.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
from deltalake import DeltaTable

from torchtrader.errors import LakeError
from torchtrader.lake import _bars_io as bars_io
from torchtrader.lake._frames import conform, require_no_null_keys, series_summary, utc_or_none
from torchtrader.lake._store import TableStore, check_table_name, normalise_root, storage_errors
from torchtrader.lake._tables import Filters, WriteMode, read_table, run_sql, write_table
from torchtrader.lake.corporate_actions import PRE_ADJUSTED, ActionsCache, Adjust, adjust_bars, check_adjust
from torchtrader.lake.results import SeriesInfo, WriteResult
from torchtrader.lake.schema import BARS_KEY, BARS_PARTITION, BARS_SCHEMA, QUARANTINE_SCHEMA

if TYPE_CHECKING:
    import pandas as pd

    from torchtrader.config import Settings

log = logging.getLogger(__name__)
_SLACK = bars_io.STATS_SLACK
_VALUES = [c for c in BARS_SCHEMA if c not in BARS_KEY]


class Lake:
    """Versioned market-data lake; cheap to construct, safe to share between threads."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        root, is_local = normalise_root(uri)
        self._store = TableStore(root, is_local, storage_options or {})
        self._indexes: OrderedDict[int, pl.DataFrame] = OrderedDict()
        self._actions = ActionsCache()
        self._write_lock = threading.Lock()
        self._index_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls(settings.lake, settings.storage_options or None)

    @property
    def uri(self) -> str:
        return self._store.root

    def __repr__(self) -> str:
        return f"Lake({self._store.root!r})"

    # ---------------------------------------------------------------- writes
    def upsert_bars(self, frame: pl.DataFrame) -> WriteResult:
        """Insert new keys and update changed ones in one commit; identical rows are skipped."""
        frame = conform(frame, BARS_SCHEMA, "bars")
        require_no_null_keys(frame, BARS_KEY, "bars")
        if frame.height == 0:
            return WriteResult("bars", 0, 0, self.version("bars"))
        frame, summary = series_summary(frame)
        with self._write_lock:
            return self._upsert(frame, summary)

    def _upsert(self, frame: pl.DataFrame, summary: pl.DataFrame) -> WriteResult:
        table = self._store.latest("bars")
        if table is None:
            version = bars_io.append_bars(self._store, None, frame, summary)
            return WriteResult("bars", frame.height, frame.height, version)
        index = self._index(table)
        stored = index.group_by(list(BARS_PARTITION)).agg(
            pl.col("first").min().alias("s_first"),
            pl.col("last").max().alias("s_last"),
            (pl.col("first").is_null() | pl.col("last").is_null()).any().alias("s_unknown"),
        )
        # A series' batch wholly after (or before) what it holds cannot collide: the fast append path.
        # Files without statistics (another engine's) could hold anything: treat them as overlapping.
        before_end = pl.col("first") <= pl.col("s_last") + _SLACK
        after_start = pl.col("last") >= pl.col("s_first") - _SLACK
        overlaps = pl.col("s_unknown") | (before_end & after_start)
        marked = summary.join(stored, on=list(BARS_PARTITION), how="left", maintain_order="left")
        marked = marked.with_columns(overlaps.fill_null(False).alias("overlaps"))
        if not marked["overlaps"].any():
            version = bars_io.append_bars(self._store, table, frame, summary)
            return WriteResult("bars", frame.height, frame.height, version)
        inserts, updates = self._diff(table, index, frame, marked)
        if updates.height == 0:
            if inserts.height == 0:
                return WriteResult("bars", frame.height, 0, table.version())
            inserts, insert_summary = series_summary(inserts)
            version = bars_io.append_bars(self._store, table, inserts, insert_summary)
            return WriteResult("bars", frame.height, inserts.height, version)
        changed = pl.concat([inserts, updates])
        _, changed_summary = series_summary(changed)
        metrics, version = bars_io.merge_bars(table, changed, changed_summary)
        added, updated = metrics.get("num_target_rows_inserted", 0), metrics.get("num_target_rows_updated", 0)
        return WriteResult("bars", frame.height, added, version, rows_updated=updated)

    def _diff(
        self, table: DeltaTable, index: pl.DataFrame, frame: pl.DataFrame, marked: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows whose key is new, rows whose key exists with other values), series by series.

        Each series is compared with the stored bars of its own time range only, joined on ts alone.
        """
        inserts, updates = [], []
        for row in marked.iter_rows(named=True):
            rows = frame.slice(row["offset"], row["rows"])
            if not row["overlaps"]:
                inserts.append(rows)
                continue
            files = index.filter(
                (pl.col("source") == row["source"])
                & (pl.col("timeframe") == row["timeframe"])
                & (pl.col("symbol") == row["symbol"])
                & (pl.col("last").is_null() | (pl.col("last") >= row["first"] - _SLACK))
                & (pl.col("first").is_null() | (pl.col("first") <= row["last"] + _SLACK))
            )
            existing = bars_io.read_files(
                self._store, table, files, row["first"], row["last"] + _SLACK, sort=False
            )
            matched = rows.join(
                existing.select("ts", *_VALUES).with_columns(pl.lit(True).alias("_found")),
                on="ts",
                how="left",
                suffix="_old",
                maintain_order="left",
            )
            found = pl.col("_found").fill_null(False)
            differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in _VALUES])
            inserts.append(matched.filter(~found).select(frame.columns))
            updates.append(matched.filter(found & differs).select(frame.columns))
        return pl.concat(inserts), (pl.concat(updates) if updates else frame.clear())

    def append_quarantine(self, frame: pl.DataFrame) -> WriteResult:
        """Append rows refused by validation (QUARANTINE_SCHEMA) to the ``quarantine`` table."""
        frame = conform(frame, QUARANTINE_SCHEMA, "quarantine")
        if frame.height == 0:
            return WriteResult("quarantine", 0, 0, self.version("quarantine"))
        return write_table(
            self._store, "quarantine", frame, key=None, partition_by=None, mode="append", internal=True
        )

    def write_table(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        key: Sequence[str] | None = None,
        partition_by: Sequence[str] | None = None,
        mode: WriteMode = "append",
    ) -> WriteResult:
        """Write a generic table (features, backtest_runs, trades, equity, ...) in one commit."""
        return write_table(self._store, name, frame, key=key, partition_by=partition_by, mode=mode)

    # ---------------------------------------------------------------- reads
    def read_bars(
        self,
        symbol: str,
        timeframe: str = "1d",
        *,
        source: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        version: int | None = None,
        adjust: Adjust = "split",
    ) -> pl.DataFrame:
        """Canonical bars of one series with start <= ts < end, sorted by ts (naive datetimes are UTC).

        ``adjust`` ("split" default, "total", "none") applies the symbol's ``corporate_actions`` at read
        time (torchtrader.lake.corporate_actions); stored bars are never changed.
        """
        mode, lo, hi = check_adjust(adjust), utc_or_none(start, "start"), utc_or_none(end, "end")
        table = self._store.at("bars", version)
        return self._read_adjusted(table, symbol, timeframe, source, lo, hi, mode)

    def _read_adjusted(
        self,
        table: DeltaTable,
        symbol: str,
        timeframe: str,
        source: str | None,
        lo: datetime | None,
        hi: datetime | None,
        adjust: Adjust,
    ) -> pl.DataFrame:
        actions = self.corporate_actions(symbol) if adjust != "none" else None
        if actions is None or actions.height == 0:
            return self._read_series(table, symbol, timeframe, source, lo, hi)
        # A dividend's factor needs the close before its ex-date, which may lie before ``start``.
        needs_history = adjust == "total" and lo is not None and (actions["kind"] == "dividend").any()
        frame = self._read_series(table, symbol, timeframe, source, None if needs_history else lo, hi)
        frame = adjust_bars(frame, actions, adjust) if frame["source"][0] not in PRE_ADJUSTED else frame
        return frame.filter(pl.col("ts") >= lo) if needs_history and lo is not None else frame

    def corporate_actions(self, symbol: str | None = None) -> pl.DataFrame:
        """Rows of the corporate_actions table (of one symbol when given), sorted by symbol and ts."""
        return self._actions.get(self._store, symbol)

    def _read_series(
        self,
        table: DeltaTable,
        symbol: str,
        timeframe: str,
        source: str | None,
        lo: datetime | None,
        hi: datetime | None,
    ) -> pl.DataFrame:
        files = self._index(table).filter((pl.col("symbol") == symbol) & (pl.col("timeframe") == timeframe))
        if source is not None:
            files = files.filter(pl.col("source") == source)
        sources = files["source"].unique().sort().to_list()
        if not sources:
            origin = f" from source {source!r}" if source is not None else ""
            raise LakeError(
                f"no {timeframe} bars for {symbol!r}{origin} in the lake (bars version {table.version()}); "
                "see `torchtrader data list`"
            )
        if len(sources) > 1:
            raise LakeError(
                f"{symbol!r} {timeframe} is held by several sources ({', '.join(sources)}): pass source=..."
            )
        if lo is not None:
            files = files.filter(pl.col("last").is_null() | (pl.col("last") >= lo - _SLACK))
        if hi is not None:
            files = files.filter(pl.col("first").is_null() | (pl.col("first") < hi + _SLACK))
        return bars_io.read_files(self._store, table, files, lo, hi)

    def read_bars_many(
        self,
        symbols: Sequence[str],
        timeframe: str = "1d",
        *,
        source: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        version: int | None = None,
        adjust: Adjust = "split",
    ) -> pl.DataFrame:
        """Several series of one timeframe in one frame, sorted by symbol then ts (one snapshot)."""
        if isinstance(symbols, str) or not symbols:
            raise LakeError("read_bars_many needs a non-empty list of symbols")
        table = self._store.at("bars", version)
        lo, hi, mode = utc_or_none(start, "start"), utc_or_none(end, "end"), check_adjust(adjust)
        parts = [
            self._read_adjusted(table, symbol, timeframe, source, lo, hi, mode)
            for symbol in dict.fromkeys(symbols)
        ]
        return pl.concat(parts).sort("symbol", "ts")

    def read_bars_pandas(
        self,
        symbol: str,
        timeframe: str = "1d",
        *,
        source: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        version: int | None = None,
        adjust: Adjust = "split",
    ) -> pd.DataFrame:
        """``read_bars`` as pandas (same columns; ts is tz-aware UTC)."""
        frame = self.read_bars(
            symbol, timeframe, source=source, start=start, end=end, version=version, adjust=adjust
        )
        return frame.to_pandas()

    def read_bars_arrow(
        self,
        symbol: str,
        timeframe: str = "1d",
        *,
        source: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        version: int | None = None,
        adjust: Adjust = "split",
    ) -> pa.Table:
        """``read_bars`` as a pyarrow Table."""
        return self.read_bars(
            symbol, timeframe, source=source, start=start, end=end, version=version, adjust=adjust
        ).to_arrow()

    def last_ts(
        self, source: str, symbol: str, timeframe: str, *, version: int | None = None
    ) -> datetime | None:
        """Open time of the newest stored bar of a series (None when the series is not stored)."""
        if version is None and self._store.latest("bars") is None:
            return None
        table = self._store.at("bars", version)
        files = self._index(table).filter(
            (pl.col("source") == source) & (pl.col("symbol") == symbol) & (pl.col("timeframe") == timeframe)
        )
        if files.height == 0:
            return None
        newest = files["last"].max()
        if isinstance(newest, datetime) and files["last"].null_count() == 0:
            # Statistics are millisecond-rounded: read the exact value from the newest files only.
            files = files.filter(pl.col("last") >= newest - _SLACK)
        frame = bars_io.read_files(self._store, table, files, None, None)
        value = frame["ts"].max()
        return value if isinstance(value, datetime) else None

    def series(self, *, version: int | None = None) -> list[SeriesInfo]:
        """Every series in ``bars`` with its row count and first/last bar (from Delta statistics)."""
        if version is None and self._store.latest("bars") is None:
            return []
        table = self._store.at("bars", version)
        index = self._index(table)
        if index["rows"].null_count() or index["first"].null_count() or index["last"].null_count():
            # Files without statistics (written by another engine): count from the data instead.
            index = (
                bars_io.read_files(self._store, table, index, None, None)
                .group_by(list(BARS_PARTITION))
                .agg(
                    pl.len().alias("rows"),
                    pl.col("ts").min().alias("first"),
                    pl.col("ts").max().alias("last"),
                )
            )
        summary = (
            index.group_by(list(BARS_PARTITION))
            .agg(pl.col("rows").sum(), pl.col("first").min(), pl.col("last").max())
            .sort("source", "symbol", "timeframe")
        )
        rows = summary.select(list(SeriesInfo.__dataclass_fields__)).iter_rows(named=True)
        return [SeriesInfo(**row) for row in rows]

    def read_table(
        self,
        name: str,
        *,
        version: int | None = None,
        filters: Filters | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """A whole table (or the rows matching pyarrow-style ``filters``) at a version."""
        return read_table(self._store, name, version=version, filters=filters, columns=columns)

    def sql(self, query: str, *, version: int | None = None) -> pl.DataFrame:
        """DuckDB SQL over the lake's tables by name; ``version`` pins ``bars``."""
        return run_sql(self._store, query, version=version)

    # ---------------------------------------------------------------- versions and upkeep
    def version(self, table: str = "bars") -> int | None:
        """Latest version of a table, None when it does not exist yet."""
        found = self._store.latest(check_table_name(table))
        return None if found is None else found.version()

    def tables(self) -> list[str]:
        return self._store.names()

    def history(self, table: str = "bars", *, limit: int | None = None) -> list[dict[str, Any]]:
        """Commits of a table, newest first: version, timestamp, operation, metrics."""
        found = self._store.at(check_table_name(table), None)
        with storage_errors(f"reading the history of {table}"):
            return list(found.history(limit))

    def compact(self, table: str = "bars") -> dict[str, Any]:
        """Rewrite small files into large ones (a new version; data unchanged). Run after many ingests."""
        found = self._store.at(check_table_name(table), None)
        with self._write_lock, storage_errors(f"compacting {table}"):
            return dict(found.optimize.compact())

    def vacuum(self, table: str = "bars", *, retention_hours: int = 168) -> list[str]:
        """Delete files that no version of the last ``retention_hours`` references, including those an
        interrupted write left behind; versions older than that window stop loading. Returns the files."""
        if isinstance(retention_hours, bool) or not isinstance(retention_hours, int) or retention_hours < 0:
            raise LakeError(f"invalid retention_hours {retention_hours!r}: use a non-negative integer")
        found = self._store.at(check_table_name(table), None)
        with self._write_lock, storage_errors(f"vacuuming {table}"):
            # An explicit short window is the caller's decision, not a mistake to refuse.
            removed = found.vacuum(
                retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False, full=True
            )
            return list(removed)

    def _index(self, table: DeltaTable) -> pl.DataFrame:
        version = table.version()
        with self._index_lock:
            cached = self._indexes.get(version)
        if cached is None:
            with storage_errors("reading the bars file index"):
                cached = bars_io.file_index(table)
            with self._index_lock:
                self._indexes[version] = cached
                while len(self._indexes) > 8:
                    self._indexes.popitem(last=False)
        return cached
