"""Typed backtest results: trades, metrics, one run (`BacktestResult`) and a sweep (`SweepResult`).

``to_json`` output is the CLI contract: times are ISO-8601 UTC strings ("2020-01-02T00:00:00+00:00")
and every non-finite float (NaN, ±inf) is written as ``null`` so the output is strict JSON.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import polars as pl

from torchtrader.backtest.config import BacktestConfig

Side = Literal["long", "short"]
ExitReason = Literal["signal", "stop_loss", "take_profit", "end"]
EXIT_REASONS: tuple[ExitReason, ...] = ("signal", "stop_loss", "take_profit", "end")

# Metrics where a smaller value ranks better; every other metric ranks larger-is-better.
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_duration", "volatility"})


@lru_cache(maxsize=1)
def current_code_version() -> str:
    """Package version, plus the git commit (and "+dirty") when run from a checkout."""
    try:
        version = metadata.version("torchtrader")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return version
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{sha}" + (".dirty" if dirty else "")


@dataclass(frozen=True)
class Trade:
    """One round trip. Prices are fill prices (slippage included); ``pnl`` is net of both fills' fees."""

    entry_time: datetime
    exit_time: datetime
    side: Side
    size: float
    entry_price: float
    exit_price: float
    pnl: float
    fees: float
    exit_reason: ExitReason

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_time": iso_utc(self.entry_time),
            "exit_time": iso_utc(self.exit_time),
            "side": self.side,
            "size": json_float(self.size),
            "entry_price": json_float(self.entry_price),
            "exit_price": json_float(self.exit_price),
            "pnl": json_float(self.pnl),
            "fees": json_float(self.fees),
            "exit_reason": self.exit_reason,
        }


@dataclass(frozen=True)
class Metrics:
    """Performance statistics of one run (formulas in ``torchtrader.backtest.metrics``); NaN = undefined."""

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration: float
    win_rate: float
    profit_factor: float
    exposure: float
    n_trades: int
    avg_trade: float

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.names()}

    def to_json(self) -> dict[str, float | int | None]:
        return {name: json_float(value) for name, value in self.to_dict().items()}


@dataclass(frozen=True)
class Benchmark:
    """Buy-and-hold of the traded series over the result's bars, the yardstick beside every result.

    Bought at the first bar's close and held to the last close, no costs (a portfolio holds each symbol
    at its weight from the first close, the rest in cash). Formulas are ``metrics``' (same annualisation).
    """

    total_return: float
    cagr: float
    sharpe: float
    max_drawdown: float

    def to_json(self) -> dict[str, float | int | None]:
        return {f.name: json_float(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class BacktestResult:
    """Everything one backtest produced, plus what is needed to reproduce it."""

    strategy: str
    params: dict[str, Any]
    symbol: str
    timeframe: str
    config: BacktestConfig
    metrics: Metrics
    trades: list[Trade]
    equity: pl.DataFrame  # columns ts (Datetime us UTC), equity (Float64); one row per bar
    final_equity: float
    lake_version: int | None = None
    code_version: str = field(default_factory=current_code_version)
    engine: str = "vector"
    start: datetime | None = None  # the requested date range [start, end) (None: unbounded)
    end: datetime | None = None
    benchmark: Benchmark | None = None
    adjust: str | None = None  # corporate-action adjustment of the lake bars read (None: not from the lake)
    warmup_bars: int = 0  # bars before ``start`` the strategy saw (not traded)

    def to_json(self, *, include_equity: bool = False) -> dict[str, Any]:
        """The CLI's JSON document (see module docstring); the equity curve only on request."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "params": self.params,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "engine": self.engine,
            "metrics": self.metrics.to_json(),
            "trades": [t.to_json() for t in self.trades],
            "final_equity": json_float(self.final_equity),
            "lake_version": self.lake_version,
            "code_version": self.code_version,
            "config": self.config.model_dump(mode="json"),
            "start": iso_or_none(self.start),
            "end": iso_or_none(self.end),
            "benchmark": self.benchmark.to_json() if self.benchmark is not None else None,
            "adjust": self.adjust,
            "warmup_bars": self.warmup_bars,
        }
        if include_equity:
            out["equity"] = [
                {"ts": iso_utc(ts), "equity": json_float(eq)}
                for ts, eq in zip(self.equity["ts"].to_list(), self.equity["equity"].to_list(), strict=True)
            ]
        return out

    def trades_frame(self) -> pl.DataFrame:
        """The trades as a polars frame (one row per trade, Trade's fields as columns)."""
        return pl.DataFrame(
            {
                "entry_time": [t.entry_time for t in self.trades],
                "exit_time": [t.exit_time for t in self.trades],
                "side": [t.side for t in self.trades],
                "size": [t.size for t in self.trades],
                "entry_price": [t.entry_price for t in self.trades],
                "exit_price": [t.exit_price for t in self.trades],
                "pnl": [t.pnl for t in self.trades],
                "fees": [t.fees for t in self.trades],
                "exit_reason": [t.exit_reason for t in self.trades],
            },
            schema={
                "entry_time": pl.Datetime("us", "UTC"),
                "exit_time": pl.Datetime("us", "UTC"),
                "side": pl.String,
                "size": pl.Float64,
                "entry_price": pl.Float64,
                "exit_price": pl.Float64,
                "pnl": pl.Float64,
                "fees": pl.Float64,
                "exit_reason": pl.String,
            },
        )


@dataclass(frozen=True)
class SweepResult:
    """A grid of parameter combinations: metrics of every combo, full detail for the best ``top``."""

    strategy: str
    n_combos: int
    metrics: pl.DataFrame  # one row per combo: parameter columns, then Metrics.names() columns
    top: list[BacktestResult]  # best first by ``rank_by``
    rank_by: str = "sharpe"
    symbol: str = ""
    timeframe: str = ""
    lake_version: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    benchmark: Benchmark | None = None
    adjust: str | None = None
    warmup_bars: int = 0

    @property
    def frame(self) -> pl.DataFrame:
        """Every evaluated combo (parameter columns, then Metrics columns), in evaluation order."""
        return self.metrics

    def ranked(self) -> pl.DataFrame:
        """All combos, best first by ``rank_by`` (NaN last)."""
        return rank_frame(self.metrics, self.rank_by)

    def to_json(self, top: int = 10) -> dict[str, Any]:
        """The CLI's sweep document: the best ``top`` combos with their parameters and metrics."""
        ranked = self.ranked().head(top)
        metric_names = Metrics.names()
        rows = []
        for row in ranked.iter_rows(named=True):
            rows.append(
                {
                    "params": {k: v for k, v in row.items() if k not in metric_names},
                    "metrics": {k: json_float(row[k]) for k in metric_names},
                }
            )
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "n_combos": self.n_combos,
            "rank_by": self.rank_by,
            "lake_version": self.lake_version,
            "start": iso_or_none(self.start),
            "end": iso_or_none(self.end),
            "benchmark": self.benchmark.to_json() if self.benchmark is not None else None,
            "adjust": self.adjust,
            "warmup_bars": self.warmup_bars,
            "deflated_sharpe": _deflated_sharpe_json(self),
            "top": rows,
        }


def _deflated_sharpe_json(result: SweepResult) -> dict[str, Any] | None:
    """The best combo's deflated Sharpe ratio (``optimize.sweep_stats``; imported here to keep the
    backtest package free of an import-time dependency on the optimisation one)."""
    from torchtrader.optimize.sweep_stats import sweep_deflated_sharpe

    dsr = sweep_deflated_sharpe(result)
    return dsr.to_json() if dsr is not None else None


def rank_frame(frame: pl.DataFrame, rank_by: str) -> pl.DataFrame:
    """Sort combos best first by one metric; NaN and null rank last, ties keep input order."""
    descending = rank_by not in LOWER_IS_BETTER
    key = pl.col(rank_by).cast(pl.Float64)
    return frame.sort(key.fill_nan(None), descending=descending, nulls_last=True, maintain_order=True)


def json_float(value: float | int) -> float | int | None:
    """A JSON-safe number: ints pass, non-finite floats become None."""
    if isinstance(value, bool | int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with an explicit offset; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)
