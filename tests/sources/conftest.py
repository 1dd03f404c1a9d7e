"""Fixtures for the source tests: a loopback Binance serving seeded synthetic bars."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest

from torchtrader.sources.ccxt_source import CcxtSource
from torchtrader.sources.synthetic import SyntheticSource
from torchtrader.testing.binance_server import BinanceServer

DAY = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def served_bars() -> pl.DataFrame:
    """One day of BTC/USDT 1m bars plus a few days of ETH/USDT 1h bars."""
    source = SyntheticSource(seed=7)
    return pl.concat(
        [
            source.fetch("BTC/USDT", "1m", DAY, datetime(2024, 1, 2, tzinfo=UTC)),
            source.fetch("ETH/USDT", "1h", DAY, datetime(2024, 1, 4, tzinfo=UTC)),
        ]
    )


@pytest.fixture
def binance(served_bars: pl.DataFrame) -> Iterator[BinanceServer]:
    with BinanceServer(served_bars, hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def ccxt_source(binance: BinanceServer) -> CcxtSource:
    """The real ccxt binance client pointed at the loopback server: small pages, no backoff waits."""
    return CcxtSource(
        api_url=binance.url,
        limit=100,
        retries=2,
        backoff=0.0,
        exchange_options={"timeout": 300, "rateLimit": 1},
    )
