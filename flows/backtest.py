"""Backtest flow: fan out symbols × strategies × parameter sets over Dask, persist, rank, report.

Every backtest reads the same pinned bars version (recorded in each result). Backtests run in
parallel on a Dask cluster (a LocalCluster unless ``dask_address``/settings name one); results are
saved to the lake one at a time (concurrent Delta commits would only conflict); a failing backtest
never fails the others: it becomes a row with its error. The flow ends with a table artifact ranking
every result and a markdown report of the best.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect_dask.task_runners import DaskTaskRunner
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.backtest import backtest_task, save_task, tearsheet_task
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import BacktestResult
from torchtrader.backtest.summary import failed_row, markdown_summary, rank_rows, summary_row
from torchtrader.config import Settings, load_settings
from torchtrader.errors import TorchTraderError
from torchtrader.indicators.fanout import SCHEDULER_KWARGS
from torchtrader.lake import Lake


class DaskOptions(BaseModel):
    """Where the fan-out runs: an existing scheduler, or a LocalCluster of this shape."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(
        default=None, description="Dask scheduler; None = settings, else LocalCluster"
    )
    workers: int | None = Field(default=None, gt=0, description="LocalCluster workers; None = settings")
    threads_per_worker: int = Field(default=1, gt=0)
    processes: bool = Field(default=True, description="LocalCluster of processes (False: threads, tests)")


class BacktestRequest(BaseModel):
    """What to backtest. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: list[str] = Field(default_factory=lambda: ["SPX"], min_length=1)
    strategies: list[str] = Field(default_factory=lambda: ["sma_cross"], min_length=1)
    params: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="per strategy, the parameter sets to run; a strategy not named runs its defaults",
    )
    timeframe: str = "1d"
    source: str | None = None
    engine: Literal["vector", "backtrader"] = "vector"
    config: BacktestConfig = Field(default_factory=BacktestConfig)
    rank_by: str = "sharpe"
    save: bool = Field(default=True, description="persist each result to backtest_runs/trades/equity")
    tearsheet_dir: str | None = Field(default=None, description="write one HTML tearsheet per result here")
    artifact_key: str = Field(default="backtest-ranking", pattern=r"^[a-z0-9-]*$")
    lake: str | None = Field(default=None, description="lake URI; default from settings")
    dask: DaskOptions = Field(default_factory=DaskOptions)

    @model_validator(mode="after")
    def _params_name_listed_strategies(self) -> BacktestRequest:
        stray = sorted(set(self.params) - set(self.strategies))
        if stray:
            raise ValueError(f"params given for {stray}, which are not in strategies {self.strategies}")
        return self


def task_runner(settings: Settings, options: DaskOptions) -> DaskTaskRunner:
    """The Dask runner: ``options.address`` or ``settings.dask_address`` when set, else a LocalCluster."""
    address = options.address or settings.dask_address
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": options.workers or settings.dask_workers,
            "threads_per_worker": options.threads_per_worker,
            "processes": options.processes,
            "dashboard_address": None,
            "scheduler_kwargs": SCHEDULER_KWARGS,
        },
    )


Job = tuple[str, str, dict[str, Any]]  # (symbol, strategy, params)


def _jobs(request: BacktestRequest) -> list[Job]:
    return [
        (symbol, strategy, params)
        for symbol in request.symbols
        for strategy in request.strategies
        for params in request.params.get(strategy) or [{}]
    ]


@flow(name="backtest-fan-out")
def fan_out(
    request: BacktestRequest, lake_uri: str, storage: dict[str, str], strategies_dir: str | None, version: int
) -> list[tuple[Job, BacktestResult | str]]:
    """Run every backtest on the Dask runner; each job comes back with its result or its error."""
    futures = [
        (
            job,
            backtest_task.submit(
                lake_uri,
                storage,
                job[0],
                request.timeframe,
                request.source,
                job[1],
                job[2],
                request.config,
                request.engine,
                strategies_dir,
                version,
            ),
        )
        for job in _jobs(request)
    ]
    outcomes: list[tuple[Job, BacktestResult | str]] = []
    for job, future in futures:
        future.wait()
        if future.state.is_completed():
            outcomes.append((job, future.result()))
        else:
            error = future.state.result(raise_on_failure=False)
            outcomes.append(
                (job, str(error) if isinstance(error, BaseException) else str(future.state.message))
            )
    return outcomes


@flow(name="backtest", log_prints=True)
def backtest_flow(request: BacktestRequest | None = None) -> list[dict[str, Any]]:
    """Run, persist and rank; returns the ranked summary rows (also published as artifacts)."""
    request = request or BacktestRequest()
    logger = get_run_logger()
    settings = load_settings(lake=request.lake)
    lake_uri, storage = settings.lake, settings.storage_options
    version = Lake(lake_uri, storage or None).version("bars")
    if version is None:
        raise TorchTraderError(f"the lake at {lake_uri} holds no bars yet: ingest some first")
    runner: Any = task_runner(settings, request.dask)  # DaskTaskRunner's future type trips mypy's invariance
    jobs = fan_out.with_options(task_runner=runner)(request, lake_uri, storage, settings.strategies, version)

    rows = []
    for (symbol, strategy, params), result in jobs:
        if isinstance(result, str):
            rows.append(failed_row(strategy, params, symbol, request.timeframe, result))
            continue
        run_id = save_task(lake_uri, storage, result, uuid.uuid4().hex) if request.save else ""
        row = summary_row(result, run_id)
        if request.tearsheet_dir:
            path = Path(request.tearsheet_dir) / f"{strategy}-{_safe(symbol)}-{run_id or len(rows)}.html"
            row["tearsheet"] = tearsheet_task(lake_uri, storage, result, str(path.resolve()), request.source)
        rows.append(row)
    ranked = rank_rows(rows, request.rank_by)
    for row in ranked:
        if row["error"]:
            logger.error("%s on %s failed: %s", row["strategy"], row["symbol"], row["error"])
    title = f"Backtests of {', '.join(request.strategies)} on {', '.join(request.symbols)} (bars v{version})"
    create_table_artifact(key=request.artifact_key, table=ranked, description=title)
    create_markdown_artifact(
        key=f"{request.artifact_key}-report",
        markdown=markdown_summary(ranked, title, request.rank_by),
        description=title,
    )
    if ranked and all(row["error"] for row in ranked):
        raise TorchTraderError(f"every backtest failed: {ranked[0]['error']}")
    return ranked


def _safe(symbol: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in symbol)


if __name__ == "__main__":
    backtest_flow()
