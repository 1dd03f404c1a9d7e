"""The whole pipeline as one flow: ingest → validate → features → backtest fan-out → Tune search with
walk-forward → model training and registration → one paper-bot cycle with the chosen strategy.

Each stage is its own flow (a subflow run here, with its own artifacts), so it can also run, be
deployed and be scheduled alone (deployments/prefect.yaml). The stage requests below carry small demo
sizes; the defaults of the stage flows themselves are the production sizes. ``stages`` picks a subset
(tests and partial reruns); a stage that needs an earlier one's choice falls back to ``sma_cross``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from flows.backtest import BacktestRequest, DaskOptions, backtest_flow
from flows.bot_cycle import BotCycleRequest, bot_cycle_flow
from flows.features import FeaturesRequest, features_flow
from flows.ingest import IngestRequest, ingest_flow
from flows.retrain import RetrainRequest, retrain_flow
from flows.tune import TuneRequest, tune_flow
from flows.validate import ValidateRequest, validate_flow
from flows.walk_forward import WalkForwardRequest, walk_forward_flow
from flows.watchdog import alert_on_failure
from torchtrader.backtest.config import BacktestConfig
from torchtrader.bots.config import make_bot_config
from torchtrader.models.training import TrainConfig

Stage = Literal["ingest", "validate", "features", "backtest", "tune", "walk_forward", "train", "bot"]
ALL_STAGES: tuple[Stage, ...] = (
    "ingest", "validate", "features", "backtest", "tune", "walk_forward", "train", "bot",
)  # fmt: skip
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

    stages: list[Stage] = Field(default_factory=lambda: list(ALL_STAGES))
    lake: str | None = None
    sample_symbols: list[str] | None = None
    synthetic_symbols: list[str] | None = None
    synthetic_timeframe: str = "1h"
    synthetic_start: datetime | None = None
    synthetic_end: datetime | None = None
    strategies: list[str] = Field(default_factory=lambda: list(BUILTIN_DEMO_STRATEGIES))
    backtest_symbols: list[str] = Field(default_factory=lambda: ["SPX", "IXIC"])
    costs: BacktestConfig = Field(default_factory=lambda: BacktestConfig(fee=0.0005, slippage_bps=2.0))
    reports_dir: str | None = Field(default=None, description="write HTML tearsheets here")
    dask: DaskOptions = Field(default_factory=DaskOptions)
    research_symbol: str = Field(default="SPX", description="the series tuned, walked forward and trained on")
    tune_search: Literal["grid", "random", "bayes"] = "random"
    tune_samples: int = Field(default=24, gt=0)
    walk_forward_train: str = "4y"
    walk_forward_test: str = "2y"
    walk_forward_search: Literal["grid", "random", "bayes"] = Field(
        default="grid", description="grid = the strategy's default grid on the batched engine (no Ray)"
    )
    walk_forward_samples: int = Field(default=12, gt=0, description="for random/bayes searches")
    model_name: str = "demo-direction"
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(model="lstm", lookback=16, epochs=2, hidden=8, patience=1)
    )
    train_last_bars: int = Field(default=600, gt=0)
    bot_name: str = "demo-paper"
    bot_symbol: str = "BTC/USDT"
    bot_timeframe: str = "1h"
    bot_capital: float = Field(default=10_000.0, gt=0)
    state_db: str | None = Field(default=None, description="bot state DB URL; default from settings")
    mlflow_uri: str | None = Field(default=None, description="tracking URI; default from settings")
    ray_address: str | None = None


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


def best_strategy(rows: list[dict[str, Any]], symbol: str) -> str:
    """The best-ranked strategy on ``symbol`` (backtest rows come ranked), else sma_cross."""
    for row in rows:
        if row["symbol"] == symbol and not row["error"]:
            return str(row["strategy"])
    return "sma_cross"


@flow(name="pipeline", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def pipeline_flow(request: PipelineRequest | None = None) -> dict[str, Any]:
    """Run the stages in order; returns ``lines`` (per stage, for people) and ``report`` (the picks)."""
    request = request or PipelineRequest()
    stages = set(request.stages)
    lines: dict[str, list[str]] = {}
    report: dict[str, Any] = {"strategy": "sma_cross", "params": {}, "reports_dir": request.reports_dir}
    if "ingest" in stages:
        lines["ingest sample (daily, arch.data)"] = _ingest_lines(
            ingest_flow(IngestRequest(source="sample", symbols=request.sample_symbols, lake=request.lake))
        )
        lines[f"ingest synthetic ({request.synthetic_timeframe})"] = _ingest_lines(
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
    if "validate" in stages:
        checked = validate_flow(ValidateRequest(lake=request.lake))
        lines["validate (bars rules over the stored lake)"] = [
            f"{r['source']} {r['symbol']} {r['timeframe']}: {r['rows']} rows, {r['failing_rows']} failing, "
            f"{r['gaps']} gaps"
            for r in checked
        ]
    if "features" in stages:
        features = features_flow(FeaturesRequest(lake=request.lake, dask_address=request.dask.address))
        lines["features (TA-Lib catalogue on Dask)"] = [
            f"{features['series']} series, {features['rows']} rows, {len(features['columns'])} columns "
            f"from bars v{features['bars_version']}"
        ]
    if "backtest" in stages:
        ranked = backtest_flow(
            BacktestRequest(
                symbols=request.backtest_symbols,
                strategies=request.strategies,
                config=request.costs,
                tearsheet_dir=request.reports_dir,
                lake=request.lake,
                dask=request.dask,
            )
        )
        lines["backtests (batched torch engine on Dask, ranked by Sharpe)"] = _backtest_lines(ranked)
        report["strategy"] = best_strategy(ranked, request.research_symbol)
        report["backtest"] = next(
            (r for r in ranked if r["symbol"] == request.research_symbol and not r["error"]), None
        )
    strategy = report["strategy"]
    if "tune" in stages:
        (tuned,) = tune_flow(
            TuneRequest(
                symbols=[request.research_symbol],
                strategy=strategy,
                search=request.tune_search,
                samples=request.tune_samples,
                config=request.costs,
                experiment="pipeline-tune",
                lake=request.lake,
                mlflow_uri=request.mlflow_uri,
                ray_address=request.ray_address,
            )
        )
        report["params"] = tuned["best_params"]
        report["tune"] = tuned
        lines[f"Ray Tune {request.tune_search} search of {strategy} on {request.research_symbol}"] = [
            f"best {tuned['best_params']}: objective {tuned['objective']}, sharpe {tuned['sharpe']}, "
            f"deflated Sharpe {tuned['deflated_sharpe']} over {tuned['n_evaluations']} evaluations; "
            f"MLflow {tuned['mlflow']}"
        ]
    if "walk_forward" in stages:
        walked = walk_forward_flow(
            WalkForwardRequest(
                symbol=request.research_symbol,
                strategy=strategy,
                train=request.walk_forward_train,
                test=request.walk_forward_test,
                search=request.walk_forward_search,
                samples=request.walk_forward_samples,
                config=request.costs,
                experiment="pipeline-walk-forward",
                mlflow_uri=request.mlflow_uri,
                lake=request.lake,
            )
        )
        report["in_sample"], report["out_of_sample"] = walked["is"], walked["oos"]
        report["walk_forward_run"] = walked["run_id"]
        spans = f"{request.walk_forward_train} train, {request.walk_forward_test} test"
        lines[f"walk-forward of {strategy} ({spans})"] = [
            f"{len(walked['windows'])} windows; in-sample sharpe {walked['is']['sharpe']}; stitched "
            f"out-of-sample sharpe {walked['oos']['sharpe']}, return {walked['oos']['total_return']}; "
            f"PBO {walked['pbo']}"
        ]
    if "train" in stages:
        trained = retrain_flow(
            RetrainRequest(
                name=request.model_name,
                symbol=request.research_symbol,
                config=request.train,
                last_bars=request.train_last_bars,
            )
        )
        promotion = trained["promotion"]
        assert isinstance(promotion, dict)
        report["model"] = promotion
        lines[f"model {request.model_name} ({request.train.model}, trained and registered)"] = [
            str(promotion["reason"])
        ]
    if "bot" in stages:
        config = make_bot_config(
            {
                "name": request.bot_name,
                "strategy": strategy,
                "params": report["params"],
                "symbols": [request.bot_symbol],
                "timeframe": request.bot_timeframe,
                "capital": request.bot_capital,
                "fee": request.costs.fee,
            },
            where=f"the pipeline's {request.bot_name} bot",
        )
        cycled = bot_cycle_flow(
            BotCycleRequest(
                name=request.bot_name, config=config, lake=request.lake, state_db=request.state_db
            )
        )
        status = cycled["status"]
        report["bot"] = {
            "name": request.bot_name,
            "state": status["state"],
            "equity": status["equity"],
            "cash": status["cash"],
            "positions": status["positions"],
        }
        held = ", ".join(f"{p['qty']:.6g} {p['symbol']}" for p in status["positions"]) or "flat"
        lines[
            f"paper bot {request.bot_name} ({strategy} on {request.bot_symbol} {request.bot_timeframe})"
        ] = [f"{status['state']}: {held}; equity {status['equity']:.2f}, cash {status['cash']:.2f}"]
    return {"lines": lines, "report": report}


if __name__ == "__main__":
    pipeline_flow()
