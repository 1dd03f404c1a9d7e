"""Shared builders for the bot tests: a state DB URL, a lake, bot configs, paper venues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from torchtrader.bots.broker import OrderRequest, OrderState
from torchtrader.bots.config import BotConfig, make_bot_config
from torchtrader.bots.paper import PaperBroker
from torchtrader.errors import AmbiguousOrderError
from torchtrader.sources.synthetic import GENESIS


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def hour(i: int) -> datetime:
    """The moment bar ``i`` of the hourly synthetic series opens (bar i - 1 has just closed)."""
    return GENESIS + timedelta(hours=i)


@pytest.fixture
def bot_config() -> Callable[..., BotConfig]:
    def make(**overrides: Any) -> BotConfig:
        data: dict[str, Any] = {
            "name": "alpha",
            "strategy": "sma_cross",
            "params": {"fast": 2, "slow": 5},
            "symbols": ["BTC/USDT"],
            "timeframe": "1h",
            "capital": 10_000.0,
            "fee": 0.001,
            "slippage_bps": 5.0,
            "lookback_bars": 10_000,
        }
        data.update(overrides)
        return make_bot_config(data)

    return make


class AmbiguousPaperBroker(PaperBroker):
    """A real paper venue whose network 'times out' after it accepted an order: the first ``times``
    submits are placed on the venue and then reported as ambiguous."""

    def __init__(self, *args: Any, times: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remaining = times
        self.submits = 0

    def submit(self, order: OrderRequest) -> OrderState:
        self.submits += 1
        state = super().submit(order)
        if self.remaining > 0:
            self.remaining -= 1
            raise AmbiguousOrderError(f"timeout after sending {order.client_order_id}")
        return state


class DiesAfterAccepting(BaseException):
    """Stands in for the process dying between the venue's accept and the store's confirm."""


class DyingPaperBroker(PaperBroker):
    def submit(self, order: OrderRequest) -> OrderState:
        super().submit(order)
        raise DiesAfterAccepting(order.client_order_id)
