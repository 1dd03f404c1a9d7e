"""Tune flow: one Ray Tune search per symbol, tracked in MLflow, published as Prefect artifacts.

Each symbol's tune is a task (Ray fans the trials out); the flow publishes a table of every symbol's
best parameters and a markdown report linking each MLflow run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.tune import run_link_task, tune_task
from torchtrader.backtest.config import BacktestConfig
from torchtrader.config import load_settings
from torchtrader.errors import TorchTraderError
from torchtrader.lake import Lake
from torchtrader.optimize.objectives import Objective
from torchtrader.optimize.space import SearchKind


class TuneRequest(BaseModel):
    """What to tune. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: list[str] = Field(default_factory=lambda: ["SPX"], min_length=1)
    strategy: str = "sma_cross"
    space: list[str] = Field(default_factory=list, description='--space syntax, e.g. ["fast=5:50:5"]')
    search: SearchKind = "bayes"
    samples: int | None = Field(default=200, gt=0)
    objective: Objective = Field(default_factory=Objective)
    config: BacktestConfig = Field(default_factory=BacktestConfig)
    seed: int = 0
    timeframe: str = "1d"
    source: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    experiment: str | None = None
    track: bool = True
    artifact_key: str = Field(default="tune-best", pattern=r"^[a-z0-9-]*$")
    lake: str | None = Field(default=None, description="lake URI; default from settings")
    mlflow_uri: str | None = Field(default=None, description="tracking URI; default from settings")
    ray_address: str | None = Field(default=None, description="Ray cluster; default settings, else local")


@flow(name="tune", log_prints=True)
def tune_flow(request: TuneRequest | None = None) -> list[dict[str, Any]]:
    """Tune every symbol; returns one row per symbol (best params, objective, DSR, MLflow run)."""
    request = request or TuneRequest()
    settings = load_settings(
        lake=request.lake, mlflow_uri=request.mlflow_uri, ray_address=request.ray_address
    )
    tracking_uri = settings.mlflow_uri if request.track else None
    version = Lake(settings.lake, settings.storage_options or None).version("bars")
    if version is None:
        raise TorchTraderError(f"the lake at {settings.lake} holds no bars yet: ingest some first")
    rows: list[dict[str, Any]] = []
    for symbol in request.symbols:  # one at a time: each tune already fills the Ray cluster
        result = tune_task(
            settings.lake, settings.storage_options, symbol, request.timeframe, request.source,
            request.strategy, request.space, request.search, request.samples, request.objective,
            request.config, request.seed, request.start, request.end, settings.ray_address, tracking_uri,
            request.experiment, settings.strategies, version,
        )  # fmt: skip
        document = result.to_json()
        rows.append(
            {
                "symbol": symbol,
                "best_params": document["best"]["params"],
                "objective": document["best"]["metrics"].get("objective"),
                "sharpe": document["best"]["metrics"].get("sharpe"),
                "deflated_sharpe": (document["deflated_sharpe"] or {}).get("dsr"),
                "n_evaluations": document["n_evaluations"],
                "n_trials": document["n_trials"],
                "lake_version": version,
                "run_id": result.run_id or "",
                "mlflow": run_link_task(tracking_uri, result.run_id),
            }
        )
    title = f"{request.search} tune of {request.strategy} on {', '.join(request.symbols)} (bars v{version})"
    create_table_artifact(key=request.artifact_key, table=rows, description=title)
    lines = [f"# {title}", "", "| symbol | best params | objective | DSR | MLflow |", "|---|---|---|---|---|"]
    for row in rows:
        params = " ".join(f"{k}={v}" for k, v in row["best_params"].items())
        cells = [row["symbol"], params, row["objective"], row["deflated_sharpe"], row["mlflow"]]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    create_markdown_artifact(
        key=f"{request.artifact_key}-report", markdown="\n".join(lines), description=title
    )
    return rows


if __name__ == "__main__":
    tune_flow()
