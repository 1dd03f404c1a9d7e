"""Ingestion: source → validation → lake, incremental and idempotent.

The three steps are separate functions so the Prefect layer can wrap each as its own task (fetch
retries on transient source errors; validate and write never retry), while the CLI composes them
directly through ``ingest_source`` / ``ingest_csv``. Nothing reaches ``bars`` without passing
validation; failing rows go to ``quarantine`` with their reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from torchtrader.errors import ValidationError
from torchtrader.lake import Lake
from torchtrader.quality import Gap, ValidationReport, quarantine_frame, validate_bars
from torchtrader.quality.gaps import calendar_for, find_gaps
from torchtrader.quality.validate import wants_gx
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
    new_gaps: tuple[Gap, ...] = ()  # holes in the range this ingest touched (calendar-aware for stocks)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["last_ts"] = self.last_ts.isoformat() if self.last_ts else None
        row["new_gaps"] = [gap_json(gap) for gap in self.new_gaps]
        return row


def gap_json(gap: Gap) -> dict[str, Any]:
    return {
        "after": gap.after.isoformat(),
        "before": gap.before.isoformat(),
        "missing_bars": gap.missing_bars,
    }


def new_gaps(
    lake: Lake,
    source: str,
    symbol: str,
    timeframe: str,
    since: datetime | None,
    *,
    version: int | None = None,
) -> tuple[Gap, ...]:
    """Gaps of a stored series from ``since`` (the last bar before an ingest) on: what the ingest left."""
    if lake.last_ts(source, symbol, timeframe, version=version) is None:
        return ()
    bars = lake.read_bars(symbol, timeframe, source=source, start=since, adjust="none", version=version)
    return tuple(find_gaps(bars, timeframe, calendar=calendar_for(source, symbol)))


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
    report_gaps: bool = True,
) -> IngestReport:
    """Quarantine the failing rows, then upsert the valid ones — or, when ``quarantine_invalid`` is
    False and anything failed, write no bars at all and raise naming the first bad row."""
    quarantined = 0
    since = _gap_scan_start(lake, report, source, symbol, timeframe) if report_gaps else None
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
    holes = new_gaps(lake, source, symbol, timeframe, since) if report_gaps else ()
    log.info("%s %s %s: %d added, %d quarantined", source, symbol, timeframe, added, quarantined)
    return IngestReport(
        source=source,
        symbol=symbol,
        timeframe=timeframe,
        rows_fetched=rows_fetched,
        rows_added=added,
        rows_quarantined=quarantined,
        gaps=len(holes) if report_gaps else len(report.gaps),
        last_ts=last,
        lake_version=version,
        new_gaps=holes,
    )


def _gap_scan_start(
    lake: Lake, report: ValidationReport, source: str, symbol: str, timeframe: str
) -> datetime | None:
    """The earlier of the last stored bar and the batch's first bar: gaps from there on are new."""
    candidates = [lake.last_ts(source, symbol, timeframe)]
    if len(report.valid):
        first = report.valid["ts"].min()
        candidates.append(first if isinstance(first, datetime) else None)
    known = [moment for moment in candidates if moment is not None]
    return min(known) if known else None


def ingest_source(
    lake: Lake,
    source: Source,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    quarantine_invalid: bool = True,
    gx: bool | None = None,
) -> IngestReport:
    """Fetch what is new for one series, validate it, write it (``gx``: see ``wants_gx``)."""
    frame = fetch_incremental(lake, source, symbol, timeframe, start, end)
    report = validate_bars(frame, timeframe, run_gx=wants_gx(gx, frame.height))
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
    gx: bool | None = None,
) -> IngestReport:
    """Import one CSV file (ours, or a Binance kline dump): all-or-nothing unless ``quarantine_invalid``."""
    read = read_csv_bars(path, symbol=symbol, timeframe=timeframe)
    report = validate_bars(read.frame, timeframe, run_gx=wants_gx(gx, read.frame.height))
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


def ingest_binance_dump(
    lake: Lake,
    paths: Sequence[str | Path],
    *,
    symbol: str,
    timeframe: str,
    source: str = "binance-dump",
    quarantine_invalid: bool = True,
    gx: bool | None = None,
) -> IngestReport:
    """Backfill one series from Binance kline dumps (files and/or folders of .csv/.zip).

    Every file is parsed and validated before the first write, so a bad file (corrupt zip, truncated
    line, another symbol's name) leaves the lake unchanged; then the files are upserted one by one
    (each one Delta commit; re-running adds nothing). Memory holds the parsed bars of the whole set:
    about 80 bytes a bar, 40 MB for a year of 1m bars.
    """
    from torchtrader.sources.binance_dump import check_names, dump_files, read_dump

    files = dump_files(paths)
    check_names(files, symbol, timeframe)
    parsed = [read_dump(path, symbol=symbol, timeframe=timeframe, source=source) for path in files]
    run_gx = wants_gx(gx, sum(item.frame.height for item in parsed))
    checked = [(item, validate_bars(item.frame, timeframe, run_gx=run_gx)) for item in parsed]
    if not quarantine_invalid:
        for item, report in checked:
            if not report.success:  # raises naming the file and line, before any bar is written
                write_validated(
                    lake, report, source=source, symbol=symbol, timeframe=timeframe, origin=str(item.path),
                    rows_fetched=item.frame.height, quarantine_invalid=False,
                    line_numbers=list(item.lines), report_gaps=False,
                )  # fmt: skip
    since = lake.last_ts(source, symbol, timeframe)
    firsts = [item.frame["ts"].min() for item in parsed if item.frame.height]
    since = min([t for t in [since, *firsts] if isinstance(t, datetime)], default=None)
    fetched = added = quarantined = 0
    version = lake.version("bars")
    for item, report in checked:
        written = write_validated(
            lake, report, source=source, symbol=symbol, timeframe=timeframe, origin=str(item.path),
            rows_fetched=item.frame.height, line_numbers=list(item.lines), report_gaps=False,
        )  # fmt: skip
        fetched += written.rows_fetched
        added += written.rows_added
        quarantined += written.rows_quarantined
        version = written.lake_version
        log.info("%s: %d klines, %d added", item.path, item.frame.height, written.rows_added)
    holes = new_gaps(lake, source, symbol, timeframe, since)
    return IngestReport(
        source=source,
        symbol=symbol,
        timeframe=timeframe,
        rows_fetched=fetched,
        rows_added=added,
        rows_quarantined=quarantined,
        gaps=len(holes),
        last_ts=lake.last_ts(source, symbol, timeframe),
        lake_version=version,
        new_gaps=holes,
    )


@dataclass(frozen=True)
class ResampleReport:
    """What ``resample_series`` stored, and from which lake version it read."""

    source: str
    symbol: str
    from_timeframe: str
    to_timeframe: str
    input_source: str
    input_version: int | None
    rows_in: int
    rows_out: int
    rows_added: int
    lake_version: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LINEAGE_TABLE = "resample_lineage"


def resample_series(
    lake: Lake,
    symbol: str,
    from_timeframe: str,
    to_timeframe: str,
    *,
    source: str | None = None,
    gx: bool | None = None,
) -> ResampleReport:
    """Resample a stored series and store the result as source ``resampled:<source>``.

    The input is read at one pinned lake version (raw bars, no adjustment); that version, the input
    series and the output commit land in the ``resample_lineage`` table. Re-running adds nothing new
    except buckets that have finished since.
    """
    from torchtrader.lake.resample import check_resample, resample_bars, resampled_source

    check_resample(from_timeframe, to_timeframe)
    input_version = lake.version("bars")
    bars = lake.read_bars(symbol, from_timeframe, source=source, version=input_version, adjust="none")
    input_source = str(bars["source"][0])
    output_source = resampled_source(input_source)
    frame = resample_bars(bars, to_timeframe).with_columns(pl.lit(output_source).alias("source"))
    report = validate_bars(frame, to_timeframe, run_gx=wants_gx(gx, frame.height))
    written = write_validated(
        lake, report, source=output_source, symbol=symbol, timeframe=to_timeframe,
        origin=f"resample of {input_source}:{symbol}:{from_timeframe}@{input_version}",
        rows_fetched=frame.height, quarantine_invalid=False, report_gaps=False,
    )  # fmt: skip
    result = ResampleReport(
        source=output_source,
        symbol=symbol,
        from_timeframe=from_timeframe,
        to_timeframe=to_timeframe,
        input_source=input_source,
        input_version=input_version,
        rows_in=bars.height,
        rows_out=frame.height,
        rows_added=written.rows_added,
        lake_version=written.lake_version,
    )
    lineage = pl.DataFrame([{**result.to_dict(), "created_at": datetime.now(UTC)}]).with_columns(
        pl.col("input_version", "lake_version").cast(pl.Int64)
    )
    lake.write_table(LINEAGE_TABLE, lineage)
    return result


def ingest_actions(lake: Lake, source: str, symbol: str, *, key: str | None = None) -> int:
    """Fetch a stock's splits and dividends into ``corporate_actions`` (upsert); events now stored."""
    from torchtrader.lake.corporate_actions import KEY, TABLE
    from torchtrader.sources.actions import fetch_actions

    actions = fetch_actions(source, symbol, key=key)
    if actions.height:
        lake.write_table(TABLE, actions, key=list(KEY), mode="upsert")
    return lake.corporate_actions(symbol).height
