"""Ingest flow: fetch and validate every symbol in parallel, write them one by one, report.

One failing symbol never fails the others: its error lands in the summary artifact and the flow
ends Completed with the rest written (it fails only when every symbol failed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import State
from pydantic import BaseModel, ConfigDict, Field

from tasks.ingest import check_freshness_task, fetch_bars, list_symbols, validate, write_bars
from torchtrader.config import load_settings
from torchtrader.errors import TorchTraderError


class IngestRequest(BaseModel):
    """What to ingest. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(default="sample", description="sample, synthetic, csv, yfinance, alphavantage, ccxt")
    symbols: list[str] | None = Field(default=None, description="None = every symbol the source lists")
    timeframe: str = "1d"
    start: datetime | None = None
    end: datetime | None = None
    source_options: dict[str, Any] = Field(default_factory=dict)
    lake: str | None = Field(default=None, description="lake URI; default from settings")


def _row(symbol: str, report: Any = None, error: str = "") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "rows_added": report.rows_added if report else 0,
        "quarantined": report.rows_quarantined if report else 0,
        "last_ts": report.last_ts.isoformat() if report and report.last_ts else "",
        "lake_version": report.lake_version if report else None,
        "new_gaps": len(report.new_gaps) if report else 0,
        "missing_bars": sum(g.missing_bars for g in report.new_gaps) if report else 0,
        "error": error,
    }


def _quality_rows(rows: list[dict[str, Any]], reports: dict[str, Any]) -> list[dict[str, Any]]:
    """The data-quality artifact: per series, what was quarantined and every new gap."""
    found = []
    for row in rows:
        report = reports.get(row["symbol"])
        gaps = report.new_gaps if report else ()
        found.append(
            {
                "symbol": row["symbol"],
                "quarantined": row["quarantined"],
                "new_gaps": len(gaps),
                "missing_bars": row["missing_bars"],
                "gaps": "; ".join(
                    f"{g.after:%Y-%m-%d %H:%M}..{g.before:%Y-%m-%d %H:%M} ({g.missing_bars})"
                    for g in gaps[:20]
                ),
            }
        )
    return found


def _failure(state: State[Any]) -> str:
    """The one-line reason a task ended badly (its exception's message)."""
    error = state.result(raise_on_failure=False)
    return str(error) if isinstance(error, BaseException) else (state.message or state.name or "failed")


@flow(name="ingest", log_prints=True)
def ingest_flow(request: IngestRequest | None = None) -> list[dict[str, Any]]:
    request = request or IngestRequest()
    logger = get_run_logger()
    settings = load_settings(lake=request.lake)
    lake, storage = settings.lake, settings.storage_options
    symbols = request.symbols or list_symbols(request.source, request.source_options)

    validated = {}
    for symbol in symbols:
        frame = fetch_bars.submit(
            lake, storage, request.source, request.source_options, symbol,
            request.timeframe, request.start, request.end,
        )  # fmt: skip
        validated[symbol] = (frame, validate.submit(frame, symbol, request.timeframe))

    rows = []
    reports: dict[str, Any] = {}
    # Writes go one at a time: concurrent commits to one Delta table would only conflict and retry.
    for symbol, (frame_future, report_future) in validated.items():
        report_future.wait()
        if not report_future.state.is_completed():
            failed = frame_future.state if not frame_future.state.is_completed() else report_future.state
            rows.append(_row(symbol, error=_failure(failed)))
            continue
        state = write_bars(
            lake, storage, report_future.result(), request.source, symbol, request.timeframe,
            len(frame_future.result()), return_state=True,
        )  # fmt: skip
        if state.is_completed():
            reports[symbol] = state.result()
            rows.append(_row(symbol, reports[symbol]))
        else:
            rows.append(_row(symbol, error=_failure(state)))
    for row in rows:
        if row["error"]:
            logger.error("%s: %s", row["symbol"], row["error"])

    create_table_artifact(
        key=f"ingest-{request.source}",
        table=rows,
        description=f"Ingest of {len(symbols)} {request.source} series ({request.timeframe})",
    )
    create_table_artifact(
        key=f"data-quality-{request.source}",
        table=_quality_rows(rows, reports),
        description=f"Data quality of the {request.source} ingest: quarantined rows and new gaps",
    )
    if rows and all(row["error"] for row in rows):
        raise TorchTraderError(f"every symbol failed: {rows[0]['error']}")
    return rows


class WatchRequest(BaseModel):
    """One watchlist entry to bring up to date (deployments/watchlist.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry: str = Field(description="entry name in the watchlist")
    watchlist: str = Field(default="deployments/watchlist.toml", description="watchlist TOML path")
    lake: str | None = Field(default=None, description="lake URI; default from settings")


@flow(name="watchlist-ingest", log_prints=True)
def watchlist_flow(request: WatchRequest) -> list[dict[str, Any]]:
    """Incremental ingest of one watchlist entry (every timeframe), then the freshness check."""
    from torchtrader.watchlist import load_watchlist

    entry = load_watchlist(request.watchlist).get(request.entry)
    rows = []
    for timeframe in entry.timeframes:
        ingest = IngestRequest(
            source=entry.source, symbols=entry.symbols, timeframe=timeframe,
            source_options=entry.source_options, lake=request.lake,
        )  # fmt: skip
        rows.extend(ingest_flow(ingest))
    settings = load_settings(lake=request.lake)
    check_freshness_task(settings.lake, settings.storage_options, request.watchlist)
    return rows


if __name__ == "__main__":
    ingest_flow()
