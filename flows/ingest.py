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

from tasks.ingest import fetch_bars, list_symbols, validate, write_bars
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
        "error": error,
    }


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
        rows.append(
            _row(symbol, state.result()) if state.is_completed() else _row(symbol, error=_failure(state))
        )
    for row in rows:
        if row["error"]:
            logger.error("%s: %s", row["symbol"], row["error"])

    create_table_artifact(
        key=f"ingest-{request.source}",
        table=rows,
        description=f"Ingest of {len(symbols)} {request.source} series ({request.timeframe})",
    )
    if rows and all(row["error"] for row in rows):
        raise TorchTraderError(f"every symbol failed: {rows[0]['error']}")
    return rows


if __name__ == "__main__":
    ingest_flow()
