"""Backtest results in the lake: tables ``backtest_runs``, ``trades`` and ``equity``.

``backtest_runs`` holds one row per run (strategy, params and config as JSON, one column per metric,
the lake version it read and the code version that ran). ``trades`` and ``equity`` hold the run's rows
keyed by ``run_id``. Crash safety: trades and equity are written first and the run row last, so a run
is visible (``load_result`` finds it) only once all its rows are in; a retry with the same ``run_id``
after a crash may append the detail rows again, which ``load_result`` deduplicates by key.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import polars as pl

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import BacktestResult, Metrics, Trade
from torchtrader.errors import LakeError
from torchtrader.lake import Lake

logger = logging.getLogger(__name__)

RUNS_TABLE, TRADES_TABLE, EQUITY_TABLE = "backtest_runs", "trades", "equity"
_UTC_US = pl.Datetime("us", "UTC")


def runs_frame(results: list[tuple[str, BacktestResult]], created_at: datetime | None = None) -> pl.DataFrame:
    """The ``backtest_runs`` rows of (run_id, result) pairs."""
    now = created_at or datetime.now(UTC)
    columns: dict[str, list[Any]] = {
        "run_id": [run_id for run_id, _ in results],
        "created_at": [now] * len(results),
        "strategy": [r.strategy for _, r in results],
        "params": [json.dumps(r.params, sort_keys=True, default=str) for _, r in results],
        "symbol": [r.symbol for _, r in results],
        "timeframe": [r.timeframe for _, r in results],
        "engine": [r.engine for _, r in results],
        "final_equity": [float(r.final_equity) for _, r in results],
    }
    for name in Metrics.names():
        columns[name] = [getattr(r.metrics, name) for _, r in results]
    columns["lake_version"] = [r.lake_version for _, r in results]
    columns["code_version"] = [r.code_version for _, r in results]
    columns["config"] = [r.config.model_dump_json() for _, r in results]
    schema: dict[str, Any] = dict.fromkeys(Metrics.names(), pl.Float64)
    schema.update(
        run_id=pl.String,
        created_at=_UTC_US,
        strategy=pl.String,
        params=pl.String,
        symbol=pl.String,
        timeframe=pl.String,
        engine=pl.String,
        final_equity=pl.Float64,
        n_trades=pl.Int64,
        lake_version=pl.Int64,
        code_version=pl.String,
        config=pl.String,
    )
    return pl.DataFrame(columns, schema={name: schema[name] for name in columns})


def trades_frame(run_id: str, result: BacktestResult) -> pl.DataFrame:
    trades = result.trades_frame()
    return trades.select(
        pl.lit(run_id, dtype=pl.String).alias("run_id"),
        pl.int_range(trades.height, dtype=pl.Int64).alias("trade_no"),
        pl.all(),
    )


def equity_frame(run_id: str, result: BacktestResult) -> pl.DataFrame:
    return result.equity.select(
        pl.lit(run_id, dtype=pl.String).alias("run_id"),
        pl.col("ts").cast(_UTC_US),
        pl.col("equity").cast(pl.Float64),
    )


def save_result(lake: Lake, result: BacktestResult, *, run_id: str | None = None) -> str:
    """Persist one result; returns its run id (a new UUID unless given). Saving an id twice is a no-op."""
    run_id = run_id or uuid.uuid4().hex
    if _run_rows(lake, run_id).height:
        logger.info("run %s already saved", run_id)
        return run_id
    lake.write_table(TRADES_TABLE, trades_frame(run_id, result), mode="append")
    lake.write_table(EQUITY_TABLE, equity_frame(run_id, result), mode="append")
    lake.write_table(RUNS_TABLE, runs_frame([(run_id, result)]), key=["run_id"], mode="upsert")
    logger.info("saved run %s (%s on %s)", run_id, result.strategy, result.symbol)
    return run_id


def load_result(lake: Lake, run_id: str) -> BacktestResult:
    """The result saved as ``run_id``; LakeError when there is no such run."""
    rows = _run_rows(lake, run_id)
    if rows.height == 0:
        raise LakeError(f"no backtest run {run_id!r} in the lake at {lake.uri}")
    row = rows.row(0, named=True)
    trades = (
        lake.read_table(TRADES_TABLE, filters=[("run_id", "=", run_id)])
        .unique(subset=["run_id", "trade_no"], keep="first")
        .sort("trade_no")
    )
    equity = (
        lake.read_table(EQUITY_TABLE, filters=[("run_id", "=", run_id)])
        .unique(subset=["run_id", "ts"], keep="first")
        .sort("ts")
        .select(pl.col("ts").cast(_UTC_US), pl.col("equity"))
    )
    metrics = Metrics(**{name: row[name] for name in Metrics.names()})
    return BacktestResult(
        strategy=row["strategy"],
        params=json.loads(row["params"]),
        symbol=row["symbol"],
        timeframe=row["timeframe"],
        config=BacktestConfig.model_validate_json(row["config"]),
        metrics=metrics,
        trades=[_trade(t) for t in trades.iter_rows(named=True)],
        equity=equity,
        final_equity=row["final_equity"],
        lake_version=row["lake_version"],
        code_version=row["code_version"],
        engine=row["engine"],
    )


def list_runs(lake: Lake) -> pl.DataFrame:
    """Every saved run's row of ``backtest_runs`` (newest first); empty when none was saved yet."""
    if RUNS_TABLE not in lake.tables():
        return pl.DataFrame()
    return lake.read_table(RUNS_TABLE).sort("created_at", descending=True)


def _run_rows(lake: Lake, run_id: str) -> pl.DataFrame:
    if RUNS_TABLE not in lake.tables():
        return pl.DataFrame()
    return lake.read_table(RUNS_TABLE, filters=[("run_id", "=", run_id)])


def _trade(row: dict[str, Any]) -> Trade:
    return Trade(
        entry_time=row["entry_time"],
        exit_time=row["exit_time"],
        side=row["side"],
        size=row["size"],
        entry_price=row["entry_price"],
        exit_price=row["exit_price"],
        pnl=row["pnl"],
        fees=row["fees"],
        exit_reason=row["exit_reason"],
    )
