"""Objectives a tune maximises: a metric, optional drawdown and turnover penalties, a trade floor.

    objective = metric − drawdown_penalty · max_drawdown − turnover_penalty · trades_per_year

with ``trades_per_year = n_trades · bars_per_year / n_bars`` (round trips per year of traded bars).
A combination with fewer than ``min_trades`` trades, or whose metric is undefined (NaN: a flat equity
curve has no Sharpe), is not eligible: its objective is null and it never wins, whatever its score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from torchtrader.errors import ConfigError

ObjectiveMetric = Literal["sharpe", "sortino", "calmar", "total_return"]
OBJECTIVES: tuple[ObjectiveMetric, ...] = ("sharpe", "sortino", "calmar", "total_return")
OBJECTIVE_COLUMN = "objective"
# What an ineligible combination tells a Bayesian sampler: worse than anything real, still finite.
INELIGIBLE_SCORE = -1e12


class Objective(BaseModel):
    """What a tune maximises (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: ObjectiveMetric = "sharpe"
    drawdown_penalty: float = Field(default=0.0, ge=0)
    turnover_penalty: float = Field(default=0.0, ge=0)
    min_trades: int = Field(default=0, ge=0)


def make_objective(
    metric: str, *, min_trades: int = 0, drawdown_penalty: float = 0.0, turnover_penalty: float = 0.0
) -> Objective:
    """An Objective from loose values; a bad one is a one-line ConfigError naming it."""
    if metric not in OBJECTIVES:
        raise ConfigError(f"unknown --objective {metric!r}: use one of {', '.join(OBJECTIVES)}")
    if min_trades < 0:
        raise ConfigError(f"--min-trades must be >= 0, got {min_trades}")
    if drawdown_penalty < 0 or turnover_penalty < 0:
        raise ConfigError("objective penalties must be >= 0")
    return Objective(
        metric=metric,
        min_trades=min_trades,
        drawdown_penalty=drawdown_penalty,
        turnover_penalty=turnover_penalty,
    )


@dataclass(frozen=True)
class Scored:
    """Objective values of a batch: null where ineligible."""

    values: np.ndarray[Any, np.dtype[np.float64]]  # NaN = ineligible

    def for_sampler(self) -> list[float]:
        return [INELIGIBLE_SCORE if np.isnan(v) else float(v) for v in self.values]


def score(frame: pl.DataFrame, objective: Objective, *, bars_per_year: float, n_bars: int) -> Scored:
    """The objective of every row of a metrics frame (Metrics columns, as ``SweepResult.metrics``)."""
    metric = frame[objective.metric].cast(pl.Float64).to_numpy().astype(np.float64, copy=True)
    trades = frame["n_trades"].cast(pl.Float64).to_numpy()
    if objective.drawdown_penalty:
        metric -= objective.drawdown_penalty * frame["max_drawdown"].cast(pl.Float64).to_numpy()
    if objective.turnover_penalty:
        metric -= objective.turnover_penalty * trades * bars_per_year / max(n_bars, 1)
    metric[~np.isfinite(metric) | (trades < objective.min_trades)] = np.nan
    return Scored(values=metric)


def with_objective(frame: pl.DataFrame, scored: Scored) -> pl.DataFrame:
    """``frame`` plus the ``objective`` column (null where ineligible)."""
    column = pl.Series(OBJECTIVE_COLUMN, scored.values, dtype=pl.Float64).fill_nan(None)
    return frame.with_columns(column)


def rank_by_objective(frame: pl.DataFrame) -> pl.DataFrame:
    """Best first; ineligible rows last; ties keep evaluation order."""
    return frame.sort(OBJECTIVE_COLUMN, descending=True, nulls_last=True, maintain_order=True)
