"""From a decision to legs: the backtest's rule 2 live, fee-inclusive sizing, client order ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchtrader.bots.broker import InstrumentRules
from torchtrader.bots.planning import Decision, client_order_id, plan_legs
from torchtrader.bots.rules import cost_with_fees

T = datetime(2024, 5, 1, tzinfo=UTC)
FEE = 0.001
RULES = InstrumentRules("ETH/USDT", "ETH", "USDT", None, None, 0.0, 0.0, FEE)


def _legs(
    target: float, previous: float, held: float, cash: float, price: float = 100.0
) -> list[tuple[str, str, float]]:
    equity = cash + held * price
    legs = plan_legs(
        Decision("ETH/USDT", T, target, previous, price),
        held=held,
        equity_share=equity,
        free_quote=cash,
        size=1.0,
        slippage_bps=0.0,
        rules=RULES,
    )
    return [(leg.leg, leg.side, round(leg.qty, 9)) for leg in legs]


@pytest.mark.parametrize(
    ("target", "previous", "held", "cash", "legs"),
    [
        (0.0, 0.0, 0.0, 1000.0, []),  # flat and staying flat
        (1.0, 1.0, 9.99, 0.0, []),  # holding what the target asks for
        # a new long: 1000 / (100 × 1.001) units, the fee inside the sizing
        (1.0, 0.0, 0.0, 1000.0, [("open", "buy", round(1000 / 100.1, 9))]),
        (0.0, 1.0, 5.0, 0.0, [("close", "sell", 5.0)]),  # exit
        # a resize closes and reopens, sized on the equity after the close's fee
        (
            0.5,
            1.0,
            5.0,
            500.0,
            [("close", "sell", 5.0), ("open", "buy", round(0.5 * (1000 - 0.5) / 100.1, 9))],
        ),
        (1.0, 1.0, 0.0, 1000.0, [("open", "buy", round(1000 / 100.1, 9))]),  # first bar of a running long
        (-1.0, 0.0, 0.0, 1000.0, []),  # a short is held flat on a cash account
        (-1.0, 1.0, 5.0, 0.0, [("close", "sell", 5.0)]),
    ],
)
def test_legs_follow_the_backtest_rules(
    target: float, previous: float, held: float, cash: float, legs: list[tuple[str, str, float]]
) -> None:
    assert _legs(target, previous, held, cash) == legs


@given(
    target=st.floats(0.01, 1.0),
    held=st.floats(0.0, 50.0),
    cash=st.floats(0.0, 1e6),
    price=st.floats(0.01, 1e5),
    fee=st.floats(0.0, 0.01),
    slip=st.floats(0.0, 50.0),
)
def test_a_planned_buy_never_costs_more_than_the_cash_it_can_have(
    target: float, held: float, cash: float, price: float, fee: float, slip: float
) -> None:
    rules = InstrumentRules("X/USDT", "X", "USDT", None, None, 0.0, 0.0, fee)
    legs = plan_legs(
        Decision("X/USDT", T, target, 0.0, price),
        held=held,
        equity_share=cash + held * price,
        free_quote=cash,
        size=1.0,
        slippage_bps=slip,
        rules=rules,
    )
    proceeds = sum(leg.qty * leg.price * (1 - fee) for leg in legs if leg.side == "sell")
    for leg in legs:
        if leg.side == "buy":
            assert cost_with_fees(rules, leg.qty, leg.price) <= cash + proceeds


def test_client_order_ids_are_deterministic_unique_and_venue_safe() -> None:
    ids = {
        client_order_id(bot, symbol, T + timedelta(hours=h), leg)
        for bot in ("a", "b")
        for symbol in ("BTC/USDT", "ETH/USDT")
        for h in range(50)
        for leg in ("close", "open", "flatten")
    }
    assert len(ids) == 2 * 2 * 50 * 3
    assert client_order_id("a", "BTC/USDT", T, "open") == client_order_id("a", "BTC/USDT", T, "open")
    assert all(re.fullmatch(r"tt[0-9a-f]{26}[cof]", i) for i in ids)  # Binance allows 36 of [.A-Z:/a-z0-9_-]
    prefix_a = client_order_id("a", "X", T, "open")[:8]
    assert sum(i.startswith(prefix_a) for i in ids) == len(ids) // 2  # the bot prefix filters venue scans
