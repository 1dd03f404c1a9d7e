"""The end-to-end pipeline: source → lake → validation → features → engines.

Each stage is its own flow (a subflow run here), so it can also be deployed and scheduled alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from flows.backtest import BacktestRequest, DaskOptions, backtest_flow
from flows.features import FeaturesRequest, features_flow
from flows.ingest import IngestRequest, ingest_flow
from flows.sweep import SweepRequest, sweep_flow
from torchtrader.backtest.config import BacktestConfig

BUILTIN_DEMO_STRATEGIES = [
    "sma_cross",
    "ema_cross",
    "rsi_reversion",
    "bollinger_breakout",
    "macd_trend",
    "donchian_breakout",
    "weekly_trend",
]


class PipelineRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lake: str | None = None
    sample_symbols: list[str] | None = None
    synthetic_symbols: list[str] | None = None
    synthetic_timeframe: str = "1h"
    synthetic_start: datetime | None = None
    synthetic_end: datetime | None = None
    strategies: list[str] = Field(default_factory=lambda: list(BUILTIN_DEMO_STRATEGIES))
    backtest_symbols: list[str] = Field(default_factory=lambda: ["SPX", "IXIC"])
    costs: BacktestConfig = Field(default_factory=lambda: BacktestConfig(fee=0.0005, slippage_bps=2.0))
    sweep_grid: list[str] = Field(default_factory=lambda: ["fast=5:50:5", "slow=20:200:10"])
    reports_dir: str | None = Field(default=None, description="write HTML tearsheets here")
    dask: DaskOptions = Field(default_factory=DaskOptions)


def _ingest_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"{row['symbol']}: +{row['rows_added']} rows, {row['quarantined']} quarantined, "
        f"last {row['last_ts'] or '-'}" + (f" — error: {row['error']}" if row["error"] else "")
        for row in rows
    ]


def _backtest_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"{row['strategy']:<20} {row['symbol']:<5} sharpe {row['sharpe'] or 0:6.2f}  "
        f"return {100 * (row['total_return'] or 0):8.1f}%  max dd {100 * (row['max_drawdown'] or 0):5.1f}%  "
        f"trades {row['n_trades'] or 0:4}" + (f"  error: {row['error']}" if row["error"] else "")
        for row in rows
    ]


def _sweep_lines(summaries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for summary in summaries:
        best = summary["top"][0] if summary["top"] else {}
        lines.append(
            f"{summary['symbol']}: {summary['n_combos']} combos; best {best.get('params', '-')}: "
            f"sharpe {best.get('sharpe') or 0:.2f}, return {100 * (best.get('total_return') or 0):.1f}%"
        )
    return lines


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
    features = features_flow(FeaturesRequest(lake=request.lake, dask_address=request.dask.address))
    summary["features (TA-Lib catalogue on Dask)"] = [
        f"{features['series']} series, {features['rows']} rows, {len(features['columns'])} columns "
        f"from bars v{features['bars_version']}: {', '.join(features['columns'])}"
    ]
    summary["backtests (batched torch engine, ranked by Sharpe)"] = _backtest_lines(
        backtest_flow(
            BacktestRequest(
                symbols=request.backtest_symbols,
                strategies=request.strategies,
                config=request.costs,
                tearsheet_dir=request.reports_dir,
                lake=request.lake,
                dask=request.dask,
            )
        )
    )
    summary["sma_cross grid sweep"] = _sweep_lines(
        sweep_flow(
            SweepRequest(
                symbols=request.backtest_symbols,
                strategy="sma_cross",
                grid_specs=request.sweep_grid,
                config=request.costs,
                top_k=3,
                lake=request.lake,
            )
        )
    )
    return summary
