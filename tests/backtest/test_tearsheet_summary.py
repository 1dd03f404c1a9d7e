"""Ranked summaries (the flows' artifacts): ordering rules and the markdown report."""

from __future__ import annotations

import math

from torchtrader.backtest.summary import markdown_summary, rank_rows


def row(name: str, sharpe: float | None, drawdown: float | None, error: str = "") -> dict[str, object]:
    return {
        "strategy": name, "params": "", "symbol": "SPX", "sharpe": sharpe, "max_drawdown": drawdown,
        "total_return": 0.1, "cagr": 0.05, "sortino": 1.0, "win_rate": 0.5, "n_trades": 3,
        "run_id": f"id-{name}", "error": error,
    }  # fmt: skip


ROWS = [row("a", 0.5, 0.2), row("b", None, None, "boom"), row("c", 1.5, 0.3), row("d", math.nan, 0.1)]


def test_larger_is_better_with_undefined_and_failures_last() -> None:
    ranked = rank_rows(ROWS, "sharpe")
    assert [r["strategy"] for r in ranked] == ["c", "a", "b", "d"]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]


def test_drawdown_ranks_smaller_first() -> None:
    assert [r["strategy"] for r in rank_rows(ROWS, "max_drawdown")] == ["d", "a", "c", "b"]


def test_markdown_lists_the_best_then_the_failures() -> None:
    text = markdown_summary(rank_rows(ROWS, "sharpe"), "Title", "sharpe", top=2)
    assert text.startswith("# Title\n")
    assert "3 backtests ranked by **sharpe**; 1 failed." in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 2  # header + the best two
    assert "id-c" in table[1] and "id-a" in table[2]
    assert "## Failures" in text and "- b on SPX (defaults): boom" in text
