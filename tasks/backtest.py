"""Backtest tasks: each one library call (torchtrader.backtest) plus names and caching rules.

Tasks take the lake URI and a pinned bars version, never frames, so they run anywhere a Dask worker
can reach the lake.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.backtest import runner
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import BacktestResult, SweepResult
from torchtrader.backtest.store import save_result
from torchtrader.lake import Lake


@task(name="backtest", task_run_name="backtest-{strategy}-{symbol}", cache_policy=NO_CACHE)
def backtest_task(
    lake_uri: str,
    storage_options: dict[str, str],
    symbol: str,
    timeframe: str,
    source: str | None,
    strategy: str,
    params: dict[str, Any],
    config: BacktestConfig,
    engine: runner.Engine,
    strategies_dir: str | None,
    version: int | None,
) -> BacktestResult:
    return runner.backtest(
        Lake(lake_uri, storage_options),
        runner.SeriesRef(symbol, timeframe, source),
        strategy,
        params,
        config,
        engine=engine,
        strategies_dir=strategies_dir,
        version=version,
    )


@task(name="sweep", task_run_name="sweep-{strategy}-{symbol}", cache_policy=NO_CACHE)
def sweep_task(
    lake_uri: str,
    storage_options: dict[str, str],
    symbol: str,
    timeframe: str,
    source: str | None,
    strategy: str,
    ranges: dict[str, list[Any]],
    config: BacktestConfig,
    rank_by: str,
    top_k: int,
    strategies_dir: str | None,
    version: int | None,
) -> SweepResult:
    return runner.sweep(
        Lake(lake_uri, storage_options),
        runner.SeriesRef(symbol, timeframe, source),
        strategy,
        ranges,
        config,
        rank_by=rank_by,
        top_k=top_k,
        strategies_dir=strategies_dir,
        version=version,
    )


@task(name="save-backtest", cache_policy=NO_CACHE)
def save_task(lake_uri: str, storage_options: dict[str, str], result: BacktestResult, run_id: str) -> str:
    return save_result(Lake(lake_uri, storage_options), result, run_id=run_id)


@task(name="tearsheet", cache_policy=NO_CACHE)
def tearsheet_task(
    lake_uri: str, storage_options: dict[str, str], result: BacktestResult, path: str, source: str | None
) -> str:
    return str(runner.tearsheet(Lake(lake_uri, storage_options), result, path, source=source))
