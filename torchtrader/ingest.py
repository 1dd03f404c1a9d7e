"""Ingestion: source → validation → lake, incremental and idempotent.

The three steps are separate functions so the Prefect layer can wrap each as its own task (fetch
retries on transient source errors; validate and write never retry), while the CLI composes them
directly through ``ingest_source`` / ``ingest_csv``. Nothing reaches ``bars`` without passing
validation; failing rows go to ``quarantine`` with their reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from torchtrader.errors import ValidationError
from torchtrader.lake import Lake
from torchtrader.quality import ValidationReport, quarantine_frame, validate_bars
from torchtrader.sources import Source
from torchtrader.sources.csv_source import read_csv_bars
from torchtrader.timeframes import timeframe_delta

log = logging.getLogger(__name__)

DEFAULT_OVERLAP_BARS = 3


@dataclass(frozen=True)
class IngestReport:
    """What one series' ingest did: the row of the flow's summary artifact and `--json` output."""

    source: str
    symbol: str
    timeframe: str
    rows_fetched: int
    rows_added: int
    rows_quarantined: int
    gaps: int
    last_ts: datetime | None
    lake_version: int | None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["last_ts"] = self.last_ts.isoformat() if self.last_ts else None
        return row


def incremental_start(
    lake: Lake,
    source: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    *,
    overlap_bars: int = DEFAULT_OVERLAP_BARS,
) -> datetime | None:
    """Where the next fetch should begin: a few bars before the last stored one (the upsert absorbs
    the overlap and it heals a last bar that was still forming), never before ``start``."""
    last = lake.last_ts(source, symbol, timeframe)
    if last is None:
        return start
    resume = last - overlap_bars * timeframe_delta(timeframe)
    return resume if start is None else max(start, resume)


def fetch_incremental(
    lake: Lake,
    source: Source,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    overlap_bars: int = DEFAULT_OVERLAP_BARS,
) -> pl.DataFrame:
    """Bars the lake does not hold yet (plus the overlap), straight from the source, unvalidated."""
    begin = incremental_start(lake, source.name, symbol, timeframe, start, overlap_bars=overlap_bars)
    log.info("fetching %s %s %s from %s to %s", source.name, symbol, timeframe, begin, end)
    return source.fetch(symbol, timeframe, begin, end)


def write_validated(
    lake: Lake,
    report: ValidationReport,
    *,
    source: str,
    symbol: str,
    timeframe: str,
    origin: str,
    rows_fetched: int,
    quarantine_invalid: bool = True,
    line_numbers: list[int] | None = None,
) -> IngestReport:
    """Quarantine the failing rows, then upsert the valid ones — or, when ``quarantine_invalid`` is
    False and anything failed, write no bars at all and raise naming the first bad row."""
    quarantined = 0
    if not report.success:
        quarantined = len(report.invalid)
        lake.append_quarantine(quarantine_frame(report, origin=origin))
        if not quarantine_invalid:
            first = report.first_error()
            assert first is not None
            row, reason = first
            where = f"line {line_numbers[row]}" if line_numbers is not None else f"row {row + 1}"
            raise ValidationError(
                f"{origin}: {where}: {reason} ({quarantined} bad rows quarantined, nothing ingested; "
                "use --quarantine-invalid to ingest the valid rows)"
            )
    added, version = 0, lake.version("bars")
    if len(report.valid):
        written = lake.upsert_bars(report.valid)
        added, version = written.rows_added, written.version
    last = lake.last_ts(source, symbol, timeframe)
    log.info("%s %s %s: %d added, %d quarantined", source, symbol, timeframe, added, quarantined)
    return IngestReport(
        source=source,
        symbol=symbol,
        timeframe=timeframe,
        rows_fetched=rows_fetched,
        rows_added=added,
        rows_quarantined=quarantined,
        gaps=len(report.gaps),
        last_ts=last,
        lake_version=version,
    )


def ingest_source(
    lake: Lake,
    source: Source,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    quarantine_invalid: bool = True,
) -> IngestReport:
    """Fetch what is new for one series, validate it, write it."""
    frame = fetch_incremental(lake, source, symbol, timeframe, start, end)
    report = validate_bars(frame, timeframe)
    return write_validated(
        lake,
        report,
        source=source.name,
        symbol=symbol,
        timeframe=timeframe,
        origin=f"{source.name}:{symbol}:{timeframe}",
        rows_fetched=len(frame),
        quarantine_invalid=quarantine_invalid,
    )


def ingest_csv(
    lake: Lake,
    path: str | Path,
    *,
    symbol: str,
    timeframe: str = "1d",
    quarantine_invalid: bool = False,
) -> IngestReport:
    """Import one CSV file: all-or-nothing unless ``quarantine_invalid``."""
    read = read_csv_bars(path, symbol=symbol, timeframe=timeframe)
    report = validate_bars(read.frame, timeframe)
    return write_validated(
        lake,
        report,
        source="csv",
        symbol=symbol,
        timeframe=timeframe,
        origin=str(path),
        rows_fetched=len(read.frame),
        quarantine_invalid=quarantine_invalid,
        line_numbers=list(read.lines),
    )
