"""Tune tasks: one library call each (torchtrader.optimize.tune.run_tune; the MLflow run link), a name
and no caching.

It takes the lake URI and a pinned bars version, never frames; Ray does the fan-out inside it.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.runner import SeriesRef
from torchtrader.lake import Lake
from torchtrader.optimize.objectives import Objective
from torchtrader.optimize.space import SearchKind
from torchtrader.optimize.tune import TuneResult, run_tune
from torchtrader.tracking.links import run_link


@task(name="tune", task_run_name="tune-{strategy}-{symbol}-{search}", cache_policy=NO_CACHE)
def tune_task(
    lake_uri: str,
    storage_options: dict[str, str],
    symbol: str,
    timeframe: str,
    source: str | None,
    strategy: str,
    space: list[str],
    search: SearchKind,
    samples: int | None,
    objective: Objective,
    config: BacktestConfig,
    seed: int,
    start: datetime | None,
    end: datetime | None,
    ray_address: str | None,
    tracking_uri: str | None,
    experiment: str | None,
    strategies_dir: str | None,
    version: int | None,
) -> TuneResult:
    return run_tune(
        Lake(lake_uri, storage_options or None),
        SeriesRef(symbol, timeframe, source),
        strategy,
        space,
        search=search,
        samples=samples,
        objective=objective,
        config=config,
        seed=seed,
        start=start,
        end=end,
        ray_address=ray_address,
        tracking_uri=tracking_uri,
        experiment=experiment,
        strategies_dir=strategies_dir,
        version=version,
    )


@task(name="mlflow-run-link", cache_policy=NO_CACHE)
def run_link_task(tracking_uri: str | None, run_id: str | None) -> str:
    return run_link(tracking_uri, run_id)
