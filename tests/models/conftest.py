"""Bars for model tests: a few hundred rows, real (S&P 500) or seeded synthetic with a known signal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from torchtrader.testing.market import sample_frame


def ar_bars(n: int = 600, phi: float = 0.6, seed: int = 0, symbol: str = "AR") -> pl.DataFrame:
    """Daily bars whose log returns follow AR(1) with coefficient ``phi``: tomorrow's direction is
    predictable from today's return (P(correct) ≈ 0.5 + arcsin(phi)/π ≈ 0.70 for phi = 0.6)."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.01, n)
    returns = np.empty(n)
    returns[0] = shocks[0]
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + shocks[t]
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    start = datetime(2020, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "source": "synthetic",
            "symbol": symbol,
            "timeframe": "1d",
            "ts": [start + timedelta(days=i) for i in range(n)],
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": np.full(n, 1000.0),
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


@pytest.fixture(scope="session")
def spx_small() -> pl.DataFrame:
    """About 500 real daily S&P 500 bars (2015-01 → 2016-12)."""
    return sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31))


@pytest.fixture(scope="session")
def ar_frame() -> pl.DataFrame:
    return ar_bars()
