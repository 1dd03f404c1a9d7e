"""`--adjust split|total|none` on backtest and sweep: the lake's corporate actions applied at read time.

A hand-made series with a 4-for-1 split: raw closes 400 → 404 before the ex-date, 101 → 102 after.
Buy-and-hold over it returns 102 / 400 − 1 on raw prices and 102 / (400 / 4) − 1 split-adjusted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from torchtrader.lake import BARS_SCHEMA, Lake
from torchtrader.lake.corporate_actions import KEY, TABLE, to_actions

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RAW_CLOSES = [400.0, 402.0, 401.0, 404.0, 101.0, 100.5, 101.5, 102.0]  # split ex-date: bar 4


@pytest.fixture
def lake_root(lake_uri: str) -> str:
    n = len(RAW_CLOSES)
    lake = Lake(lake_uri)
    lake.upsert_bars(
        pl.DataFrame(
            {
                "source": "csv",
                "symbol": "ACME",
                "timeframe": "1d",
                "ts": [T0 + timedelta(days=i) for i in range(n)],
                "open": RAW_CLOSES,
                "high": [c * 1.01 for c in RAW_CLOSES],
                "low": [c * 0.99 for c in RAW_CLOSES],
                "close": RAW_CLOSES,
                "volume": [100.0] * n,
            },
            schema=BARS_SCHEMA,
        )
    )
    actions = pl.DataFrame(
        {
            "symbol": ["ACME"],
            "ts": [T0 + timedelta(days=4)],
            "kind": ["split"],
            "value": [4.0],
            "source": ["t"],
        }
    )
    actions = actions.with_columns(source=pl.lit("test"))
    lake.write_table(TABLE, to_actions(actions), key=list(KEY), mode="upsert")
    return lake_uri


@pytest.mark.parametrize(
    ("adjust", "total_return"), [("split", 102 / 100 - 1), ("none", 102 / 400 - 1), (None, 102 / 100 - 1)]
)
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_adjust_reaches_the_lake_read(
    run_cli: Callable[..., Any], lake_root: str, command: str, adjust: str | None, total_return: float
) -> None:
    args = ["--adjust", adjust] if adjust else []
    grid = ["--grid", "fast=2", "--grid", "slow=3"] if command == "sweep" else []
    run = run_cli(
        lake_root, command, "--symbol", "ACME", "--strategy", "sma_cross", *grid, *args, "--json", "-"
    )
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["adjust"] == (adjust or "split")
    assert doc["benchmark"]["total_return"] == pytest.approx(total_return, rel=1e-12)


def test_an_unknown_adjust_is_one_line(run_cli: Callable[..., Any], lake_root: str) -> None:
    run = run_cli(
        lake_root, "backtest", "--symbol", "ACME", "--strategy", "sma_cross", "--adjust", "dividends"
    )
    assert run.code == 1
    assert run.err == "error: unknown --adjust 'dividends': use one of split, total, none\n"
