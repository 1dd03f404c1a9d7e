"""Ranked summaries of many backtests: the rows and markdown the flows publish as artifacts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchtrader.backtest.results import LOWER_IS_BETTER, BacktestResult, SweepResult, json_float

SUMMARY_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "n_trades")


def summary_row(result: BacktestResult, run_id: str | None = None, error: str = "") -> dict[str, Any]:
    """One flat, JSON-safe row: who ran on what, the headline metrics, where the result is stored."""
    row: dict[str, Any] = {
        "strategy": result.strategy,
        "params": " ".join(f"{k}={v}" for k, v in result.params.items()),
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "engine": result.engine,
        "final_equity": json_float(result.final_equity),
    }
    row.update({name: json_float(getattr(result.metrics, name)) for name in SUMMARY_METRICS})
    row.update(lake_version=result.lake_version, run_id=run_id or "", error=error)
    return row


def failed_row(
    strategy: str, params: dict[str, Any], symbol: str, timeframe: str, error: str
) -> dict[str, Any]:
    """The row of a backtest that raised: metrics empty, the one-line reason in ``error``."""
    row: dict[str, Any] = {
        "strategy": strategy,
        "params": " ".join(f"{k}={v}" for k, v in params.items()),
        "symbol": symbol,
        "timeframe": timeframe,
        "engine": "",
        "final_equity": None,
    }
    row.update(dict.fromkeys(SUMMARY_METRICS))
    row.update(lake_version=None, run_id="", error=error)
    return row


def rank_rows(rows: Sequence[dict[str, Any]], rank_by: str = "sharpe") -> list[dict[str, Any]]:
    """Rows best first by ``rank_by`` (failed and undefined last), each with its 1-based ``rank``."""

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = row.get(rank_by)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0)
        return (0, float(value) if rank_by in LOWER_IS_BETTER else -float(value))

    ranked = sorted(rows, key=key)
    return [{"rank": i, **row} for i, row in enumerate(ranked, start=1)]


def markdown_summary(ranked: Sequence[dict[str, Any]], title: str, rank_by: str, top: int = 10) -> str:
    """A markdown report: the best ``top`` rows as a table, then the failures with their reasons."""
    good = [row for row in ranked if not row["error"]]
    bad = [row for row in ranked if row["error"]]
    lines = [f"# {title}", "", f"{len(good)} backtests ranked by **{rank_by}**; {len(bad)} failed.", ""]
    if good:
        columns = ["rank", "strategy", "params", "symbol", *SUMMARY_METRICS, "run_id"]
        if any(row.get("tearsheet") for row in good):
            columns.append("tearsheet")
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in good[:top]:
            lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    if bad:
        lines += ["", "## Failures", ""]
        lines += [
            f"- {row['strategy']} on {row['symbol']} ({row['params'] or 'defaults'}): {row['error']}"
            for row in bad
        ]
    return "\n".join(lines) + "\n"


def sweep_rows(result: SweepResult, top: int) -> list[dict[str, Any]]:
    """The best ``top`` combos of a sweep as flat rows (params as text, then the headline metrics)."""
    document = result.to_json(top=top)
    rows = []
    for rank, entry in enumerate(document["top"], start=1):
        row: dict[str, Any] = {
            "rank": rank,
            "symbol": result.symbol,
            "strategy": result.strategy,
            "params": " ".join(f"{k}={v}" for k, v in entry["params"].items()),
        }
        row.update({name: entry["metrics"][name] for name in SUMMARY_METRICS})
        rows.append(row)
    return rows


def sweep_markdown(title: str, rank_by: str, summaries: Sequence[dict[str, Any]]) -> str:
    """A markdown report of sweeps: per symbol, the combo count and the best combos as a table."""
    lines = [f"# {title}", ""]
    columns = ["rank", "params", *SUMMARY_METRICS]
    for summary in summaries:
        lines += [f"## {summary['symbol']}: {summary['n_combos']} combos, ranked by {rank_by}", ""]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in summary["top"]]
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, str) and value.endswith(".html"):
        return f"[tearsheet]({Path(value).as_uri() if Path(value).is_absolute() else value})"
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
