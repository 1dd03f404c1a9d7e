"""`make demo`: the main pipeline, offline, on embedded defaults (ephemeral Prefect, local lake).

Run as ``python -m flows.demo``. Every step is a real flow run that shows up in the Prefect UI when a
server is configured (PREFECT_API_URL); with none, Prefect's ephemeral API is used.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flows.pipeline import PipelineRequest, pipeline_flow
from torchtrader.config import load_settings
from torchtrader.lake import Lake


def main() -> None:
    # Dask narrates every cluster start and stop at INFO; the demo's story is the pipeline's.
    # The env var reaches worker processes too; the logger call covers an already-imported dask.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    console = Console(width=120)
    settings = load_settings()
    reports = Path("reports").resolve()
    console.rule(f"Torch Trader demo — lake at {settings.lake}")
    summary = pipeline_flow(
        PipelineRequest(
            synthetic_start=datetime(2024, 1, 1, tzinfo=UTC),
            synthetic_end=datetime(2024, 4, 1, tzinfo=UTC),
            reports_dir=str(reports),
        )
    )
    lake = Lake.from_settings(settings)
    table = Table(title=f"lake series (bars version {lake.version('bars')})")
    for column in ("source", "symbol", "timeframe", "rows", "first", "last"):
        table.add_column(column)
    for s in lake.series():
        table.add_row(
            s.source,
            s.symbol,
            s.timeframe,
            str(s.rows),
            f"{s.first:%Y-%m-%d %H:%M}",
            f"{s.last:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    for step, lines in summary.items():
        console.rule(step)
        for line in lines:
            console.print(line)
    console.rule("next")
    console.print(f"HTML tearsheets: {reports}/  ·  results: torchtrader sql 'SELECT * FROM backtest_runs'")
    console.print("try: torchtrader data list · torchtrader strategy list · torchtrader backtest --help")


if __name__ == "__main__":
    main()
