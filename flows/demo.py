"""`make demo`: the whole pipeline, offline, on embedded defaults, then a short report.

Run as ``python -m flows.demo``. Defaults: the sample indices and a synthetic hourly series in the
local lake, SQLite MLflow, a local Dask cluster and local Ray, Prefect's ephemeral API (or the server
named by PREFECT_API_URL, e.g. after ``make up``), and the paper broker. Every stage is a real flow
run; the report ends with the commands that open the UIs on what just ran.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from flows.backtest import DaskOptions
from flows.pipeline import PipelineRequest, pipeline_flow
from torchtrader.config import load_settings


def _metrics(block: dict[str, Any] | None) -> str:
    if not block:
        return "-"
    keys = ("sharpe", "total_return", "max_drawdown", "n_trades")
    return ", ".join(
        f"{k} {block[k]:.3g}" if isinstance(block.get(k), float) else f"{k} {block.get(k)}" for k in keys
    )


def report_lines(report: dict[str, Any], *, mlflow_uri: str, prefect_api: str | None) -> list[str]:
    """The closing report: the picks of each stage and how to look at them."""
    model = report.get("model") or {}
    # A promotion reports the version it replaced as ``champion``; the new champion is the challenger.
    champion = model.get("challenger") if model.get("promoted") else model.get("champion")
    bot = report.get("bot") or {}
    held = ", ".join(f"{p['qty']:.6g} {p['symbol']}" for p in bot.get("positions") or []) or "flat"
    mlflow_ui = (
        f"mlflow ui --backend-store-uri {mlflow_uri} --host 127.0.0.1 --port 5000"
        if not mlflow_uri.startswith("http")
        else mlflow_uri
    )
    return [
        f"best strategy:   {report['strategy']} {report.get('params') or ''}",
        f"  in-sample:     {_metrics(report.get('in_sample'))}",
        f"  out-of-sample: {_metrics(report.get('out_of_sample'))}  (stitched walk-forward test spans)",
        f"champion model:  {model.get('name', '-')} v{champion} (models:/{model.get('name', '-')}@champion)"
        f" — {'promoted: ' if model.get('promoted') else 'kept: '}{model.get('reason', '-')}",
        f"paper bot:       {bot.get('name', '-')} {bot.get('state', '-')}: {held}; "
        f"equity {bot.get('equity', 0):.2f}",
        f"tearsheets:      {report.get('reports_dir')}/",
        "Prefect UI:      "
        + (prefect_api.removesuffix("/api") if prefect_api else "make up  (then re-run make demo)"),
        f"MLflow UI:       {mlflow_ui}",
        "dashboard:       torchtrader ui  (or make up: http://127.0.0.1:8050)",
    ]


def main() -> None:
    # Dask narrates every cluster start and stop at INFO; the demo's story is the pipeline's.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    # The ephemeral API server's 20 s start-up allowance is too short on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    console = Console(width=120)
    settings = load_settings()
    reports = Path("reports").resolve()
    started = time.perf_counter()
    console.rule(f"Torch Trader demo — lake at {settings.lake}")
    result = pipeline_flow(
        PipelineRequest(
            synthetic_symbols=["BTC/USDT"],
            synthetic_start=datetime(2024, 1, 1, tzinfo=UTC),
            synthetic_end=datetime(2024, 2, 1, tzinfo=UTC),
            reports_dir=str(reports),
            # Threads, not processes: Dask worker processes would each start their own ephemeral
            # Prefect API (no server to share when none is configured), costing seconds per worker.
            dask=DaskOptions(processes=False, workers=1, threads_per_worker=2),
        )
    )
    for step, lines in result["lines"].items():
        console.rule(step)
        for line in lines:
            console.print(line, markup=False)
    console.rule(f"report ({time.perf_counter() - started:.0f} s)")
    for line in report_lines(
        result["report"], mlflow_uri=settings.mlflow_uri, prefect_api=os.environ.get("PREFECT_API_URL")
    ):
        console.print(line, markup=False)


if __name__ == "__main__":
    main()
