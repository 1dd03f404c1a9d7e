"""A tune's typed result (the issue's JSON), its reproducible spec, and what goes to MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import Metrics, iso_utc, json_float
from torchtrader.optimize.objectives import OBJECTIVE_COLUMN, Objective

if TYPE_CHECKING:
    from torchtrader.backtest.results import BacktestResult
    from torchtrader.optimize.overfit import DeflatedSharpe

SPEC_ARTIFACT = "tune_spec.json"
TABLE_ARTIFACT = "evaluations.parquet"
TEARSHEET_ARTIFACT = "best_tearsheet.html"
RESULT_ARTIFACT = "tune_result.json"


class TuneSpec(BaseModel):
    """Everything a tune was computed from: enough to run it again (``runs reproduce``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    timeframe: str
    source: str | None
    strategy: str
    space: list[str]
    search: str
    samples: int | None
    objective: Objective
    config: BacktestConfig
    seed: int
    start: datetime | None
    end: datetime | None
    lake_version: int | None
    warmup: int
    batch_size: int
    round_trials: int
    strategies_dir: str | None = None


@dataclass(frozen=True)
class TuneResult:
    """One tune: every evaluation (``frame``), the best combination in full, the deflated Sharpe."""

    run_id: str | None
    experiment: str | None
    spec: TuneSpec
    n_evaluations: int
    n_trials: int
    elapsed_s: float
    frame: pl.DataFrame  # one row per evaluation: combo, trial, params, Metrics columns, objective
    best: BacktestResult
    deflated_sharpe: DeflatedSharpe | None

    @property
    def param_names(self) -> list[str]:
        reserved = {"combo", "trial", OBJECTIVE_COLUMN, *Metrics.names()}
        return [c for c in self.frame.columns if c not in reserved]

    def ranked(self) -> pl.DataFrame:
        from torchtrader.optimize.objectives import rank_by_objective

        return rank_by_objective(self.frame)

    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params)

    def rows(self, top: int = 10) -> list[dict[str, Any]]:
        names = self.param_names
        out = []
        for row in self.ranked().head(top).iter_rows(named=True):
            metrics = {k: json_float(row[k]) if row[k] is not None else None for k in Metrics.names()}
            value = row[OBJECTIVE_COLUMN]
            metrics[OBJECTIVE_COLUMN] = None if value is None else float(value)
            out.append({"params": {k: row[k] for k in names}, "metrics": metrics})
        return out

    def to_json(self, top: int = 10) -> dict[str, Any]:
        rows = self.rows(top)
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "search": self.spec.search,
            "objective": self.spec.objective.metric,
            "n_evaluations": self.n_evaluations,
            "n_trials": self.n_trials,
            "elapsed_s": round(self.elapsed_s, 3),
            "best": rows[0] if rows else {"params": self.best_params(), "metrics": {}},
            "top": rows,
            "deflated_sharpe": None if self.deflated_sharpe is None else self.deflated_sharpe.to_json(),
            "lake_version": self.spec.lake_version,
            "start": None if self.spec.start is None else iso_utc(self.spec.start),
            "end": None if self.spec.end is None else iso_utc(self.spec.end),
            "seed": self.spec.seed,
        }


def trial_summary(columns: dict[str, list[Any]], scores: list[float | None]) -> dict[str, float]:
    """Per-trial metrics of a nested run: evaluations, eligible ones, the batch's best objective."""
    eligible = [s for s in scores if s is not None]
    summary = {"n_evaluations": float(len(scores)), "n_eligible": float(len(eligible))}
    if eligible:
        summary["best_objective"] = max(eligible)
    sharpes = [v for v in columns.get("sharpe", []) if isinstance(v, float) and v == v]
    if sharpes:
        summary["best_sharpe"] = max(sharpes)
    return summary
