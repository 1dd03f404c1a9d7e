"""Walk-forward task: one library call (torchtrader.optimize.walkforward) plus its name and caching rule.

Like every task it takes the lake URI and a pinned bars version, never frames. No retries: a failed
walk-forward is bad input or a bug, and its MLflow run already ended FAILED with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.backtest import runner
from torchtrader.backtest.config import BacktestConfig
from torchtrader.lake import Lake
from torchtrader.optimize.walkforward import walk_forward
from torchtrader.optimize.walkforward_report import WalkForwardResult


@task(name="walk-forward", task_run_name="walk-forward-{strategy}-{symbol}", cache_policy=NO_CACHE)
def walk_forward_task(
    lake_uri: str,
    storage_options: dict[str, str],
    symbol: str,
    timeframe: str,
    source: str | None,
    strategy: str,
    train: str,
    test: str,
    step: str | None,
    anchored: bool,
    search: str,
    grid: Sequence[str],
    samples: int,
    objective: str,
    min_trades: int,
    config: BacktestConfig,
    seed: int,
    strategies_dir: str | None,
    version: int | None,
    tracking_uri: str | None,
    experiment: str,
    ray_address: str | None,
) -> WalkForwardResult:
    return walk_forward(
        Lake(lake_uri, storage_options),
        runner.SeriesRef(symbol, timeframe, source),
        strategy,
        train=train,
        test=test,
        step=step,
        anchored=anchored,
        search=search,
        grid=grid,
        samples=samples,
        objective=objective,
        min_trades=min_trades,
        config=config,
        seed=seed,
        strategies_dir=strategies_dir,
        version=version,
        tracking_uri=tracking_uri,
        experiment=experiment,
        ray_address=ray_address,
    )
