"""Walk-forward flow: one walk-forward task, then its out-of-sample table and a link to its MLflow run.

Thin over ``torchtrader.optimize.walkforward`` (the search per train span, the scored test spans, the
stitched out-of-sample curve, PBO). Artifacts: a table with one row per window (spans, chosen
parameters, in/out-of-sample metrics), a markdown summary (stitched OOS, in-sample mean, PBO, run id)
and a link to the MLflow run (the server's UI for an http tracking URI, else a local ``mlflow ui``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.walk_forward import walk_forward_task
from torchtrader.backtest.config import BacktestConfig
from torchtrader.config import load_settings
from torchtrader.errors import TorchTraderError
from torchtrader.lake import Lake

LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"


class WalkForwardRequest(BaseModel):
    """What to walk forward. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = "SPX"
    timeframe: str = "1d"
    source: str | None = None
    strategy: str = "sma_cross"
    train: str = Field(default="2y", description="train span per window: 30d, 12w, 6m, 2y")
    test: str = Field(default="6m", description="test span per window; test spans tile the period")
    step: str | None = None
    anchored: bool = False
    search: str = Field(default="grid", pattern=r"^(grid|random|bayes)$")
    grid: list[str] = Field(default_factory=list, description='e.g. ["fast=5:20:5", "slow=30,50"]')
    samples: int = Field(default=64, gt=0)
    objective: str = "sharpe"
    min_trades: int = Field(default=0, ge=0)
    config: BacktestConfig = Field(default_factory=BacktestConfig)
    seed: int = 0
    experiment: str = "walkforward"
    mlflow_uri: str | None = Field(default=None, description="tracking URI; default from settings")
    lake: str | None = Field(default=None, description="lake URI; default from settings")
    artifact_key: str = Field(default="walk-forward", pattern=r"^[a-z0-9-]*$")


def mlflow_run_link(tracking_uri: str, experiment_id: str | None, run_id: str) -> str:
    """The run's page in the MLflow UI: the tracking server itself, or a local ``mlflow ui``."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_MLFLOW_UI
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


@flow(name="walk-forward", log_prints=True)
def walk_forward_flow(request: WalkForwardRequest | None = None) -> dict[str, Any]:
    """Walk one strategy forward over one series; returns the walk-forward JSON document."""
    request = request or WalkForwardRequest()
    settings = load_settings(lake=request.lake)
    lake_uri, storage = settings.lake, settings.storage_options
    version = Lake(lake_uri, storage or None).version("bars")
    if version is None:
        raise TorchTraderError(f"the lake at {lake_uri} holds no bars yet: ingest some first")
    tracking_uri = request.mlflow_uri or settings.mlflow_uri
    result = walk_forward_task(
        lake_uri, storage, request.symbol, request.timeframe, request.source, request.strategy,
        request.train, request.test, request.step, request.anchored, request.search, request.grid,
        request.samples, request.objective, request.min_trades, request.config, request.seed,
        settings.strategies, version, tracking_uri, request.experiment, settings.ray_address,
    )  # fmt: skip
    document = result.to_json()
    title = (
        f"Walk-forward of {request.strategy} on {request.symbol} {request.timeframe} "
        f"(train {request.train}, test {request.test}, bars v{version})"
    )
    table = [
        {
            "test_start": w["test_start"],
            "test_end": w["test_end"],
            "best_params": " ".join(f"{k}={v}" for k, v in w["best_params"].items()),
            **{f"oos_{k}": v for k, v in w["out_of_sample"].items()},
            "is_sharpe": w["in_sample"]["sharpe"],
        }
        for w in document["windows"]
    ]
    create_table_artifact(key=request.artifact_key, table=table, description=title)
    oos = document["oos"]
    create_markdown_artifact(
        key=f"{request.artifact_key}-report",
        markdown=(
            f"# {title}\n\n| | total_return | sharpe | max_drawdown | n_trades |\n|---|---|---|---|---|\n"
            f"| stitched out-of-sample | {oos['total_return']} | {oos['sharpe']} | {oos['max_drawdown']} | "
            f"{oos['n_trades']} |\n\nIn-sample Sharpe (mean over windows): {document['is']['sharpe']}; "
            f"probability of backtest overfitting: {document['pbo']}; MLflow run `{document['run_id']}`.\n"
        ),
        description=title,
    )
    if result.run_id is not None:
        create_link_artifact(
            key=f"{request.artifact_key}-mlflow",
            link=mlflow_run_link(tracking_uri, result.experiment_id, result.run_id),
            link_text=f"MLflow run {result.run_id}",
            description=f"{title}: parent run; the windows are its nested runs",
        )
    return document


if __name__ == "__main__":
    walk_forward_flow()
