"""Grid sweep flow (no Ray): the batched engine evaluates every combination per symbol in one pass.

Ranges come as lists (``{"fast": [5, 10]}``) and/or in the CLI's syntax (``"fast=5:20:5"``, stop
inclusive). Each symbol's sweep is a task; the best ``top_k`` combos of each are saved to the lake
(optional) and published as a ranked table artifact plus a markdown report. Ray Tune searches live in
the optimisation flows.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.backtest import save_task, sweep_task
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.runner import parse_grid
from torchtrader.backtest.summary import sweep_markdown, sweep_rows
from torchtrader.config import load_settings
from torchtrader.errors import ConfigError, TorchTraderError
from torchtrader.lake import Lake


class SweepRequest(BaseModel):
    """What to sweep. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: list[str] = Field(default_factory=lambda: ["SPX"], min_length=1)
    strategy: str = "sma_cross"
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="parameter -> values")
    grid_specs: list[str] = Field(
        default_factory=list, description='CLI syntax: ["fast=5:20:5", "slow=30,50"]'
    )
    timeframe: str = "1d"
    source: str | None = None
    config: BacktestConfig = Field(default_factory=BacktestConfig)
    rank_by: str = "sharpe"
    top_k: int = Field(default=10, gt=0)
    save_top: bool = Field(default=False, description="persist the top_k results of each symbol")
    artifact_key: str = Field(default="sweep-ranking", pattern=r"^[a-z0-9-]*$")
    lake: str | None = Field(default=None, description="lake URI; default from settings")

    def ranges(self) -> dict[str, list[Any]]:
        parsed = parse_grid(self.grid_specs)
        both = set(parsed) & set(self.grid)
        if both:
            raise ConfigError(f"sweep grid names {sorted(both)} in both grid and grid_specs")
        ranges = {**self.grid, **parsed}
        if not ranges:
            raise ConfigError("a sweep needs at least one parameter range (grid or grid_specs)")
        return ranges


@flow(name="sweep", log_prints=True)
def sweep_flow(request: SweepRequest | None = None) -> list[dict[str, Any]]:
    """Sweep every symbol; returns one summary per symbol (n_combos and its best combos)."""
    request = request or SweepRequest()
    ranges = request.ranges()
    settings = load_settings(lake=request.lake)
    lake_uri, storage = settings.lake, settings.storage_options
    version = Lake(lake_uri, storage or None).version("bars")
    if version is None:
        raise TorchTraderError(f"the lake at {lake_uri} holds no bars yet: ingest some first")
    futures = {
        symbol: sweep_task.submit(
            lake_uri,
            storage,
            symbol,
            request.timeframe,
            request.source,
            request.strategy,
            ranges,
            request.config,
            request.rank_by,
            request.top_k,
            settings.strategies,
            version,
        )
        for symbol in request.symbols
    }
    summaries: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    for symbol, future in futures.items():
        result = future.result()  # a failed sweep fails the flow: its grid or data is wrong, not luck
        run_ids: list[str] = []
        if request.save_top:
            run_ids = [save_task(lake_uri, storage, top, uuid.uuid4().hex) for top in result.top]
        rows = sweep_rows(result, request.top_k)
        for row, run_id in zip(rows, run_ids or [""] * len(rows), strict=True):
            row["run_id"] = run_id
        table.extend(rows)
        summaries.append(
            {"symbol": symbol, "n_combos": result.n_combos, "lake_version": version, "top": rows}
        )
    title = f"Sweep of {request.strategy} on {', '.join(request.symbols)} (bars v{version})"
    create_table_artifact(key=request.artifact_key, table=table, description=title)
    create_markdown_artifact(
        key=f"{request.artifact_key}-report",
        markdown=sweep_markdown(title, request.rank_by, summaries),
        description=title,
    )
    return summaries


if __name__ == "__main__":
    sweep_flow()
