"""The end-to-end pipeline: source → lake → validation → features → engines.

Each stage is its own flow (a subflow run here), so it can also be deployed and scheduled alone.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from pydantic import BaseModel, ConfigDict

from flows.ingest import IngestRequest, ingest_flow


class PipelineRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lake: str | None = None
    sample_symbols: list[str] | None = None
    synthetic_symbols: list[str] | None = None
    synthetic_timeframe: str = "1h"
    synthetic_start: datetime | None = None
    synthetic_end: datetime | None = None


def _ingest_lines(rows: list[dict[str, object]]) -> list[str]:
    return [
        f"{row['symbol']}: +{row['rows_added']} rows, {row['quarantined']} quarantined, "
        f"last {row['last_ts'] or '-'}" + (f" — error: {row['error']}" if row["error"] else "")
        for row in rows
    ]


@flow(name="pipeline")
def pipeline_flow(request: PipelineRequest | None = None) -> dict[str, list[str]]:
    request = request or PipelineRequest()
    summary: dict[str, list[str]] = {}
    summary["ingest sample (daily, arch.data)"] = _ingest_lines(
        ingest_flow(IngestRequest(source="sample", symbols=request.sample_symbols, lake=request.lake))
    )
    summary[f"ingest synthetic ({request.synthetic_timeframe})"] = _ingest_lines(
        ingest_flow(
            IngestRequest(
                source="synthetic",
                symbols=request.synthetic_symbols,
                timeframe=request.synthetic_timeframe,
                start=request.synthetic_start,
                end=request.synthetic_end,
                lake=request.lake,
            )
        )
    )
    return summary
