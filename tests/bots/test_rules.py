"""Venue rules, worked by hand: step rounding, minimums, and a buy's cost plus fees against free cash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchtrader.bots.broker import InstrumentRules
from torchtrader.bots.rules import affordable_qty, conform_order, conform_price, cost_with_fees
from torchtrader.errors import InsufficientFundsError, OrderRejectedError

BTC = InstrumentRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    amount_step=0.00001,
    price_step=0.01,
    min_amount=0.00001,
    min_notional=5.0,
    fee_rate=0.001,
)
SHARES = InstrumentRules(
    symbol="AAPL",
    base="AAPL",
    quote="USD",
    amount_step=1.0,
    price_step=0.01,
    min_amount=1.0,
    min_notional=0.0,
    fee_rate=0.0,
)
NO_STEP = InstrumentRules(
    symbol="X/USD",
    base="X",
    quote="USD",
    amount_step=None,
    price_step=None,
    min_amount=0.0,
    min_notional=1.0,
    fee_rate=0.0025,
)


@pytest.mark.parametrize(
    ("rules", "side", "qty", "price", "free", "expected"),
    [
        (BTC, "buy", 0.123456789, 100.0, None, 0.12345),  # rounded down to the 0.00001 step
        (BTC, "sell", 0.999999999, 100.0, None, 0.99999),  # down for sells too: never more than held
        (SHARES, "buy", 0.3 / 0.1, 10.0, None, 3.0),  # 2.9999999999999996 is 3 steps, not 2
        (SHARES, "buy", 7.9, 10.0, None, 7.0),
        (BTC, "buy", 0.00005, 100_000.0, None, 0.00005),  # exactly 5 USDT: the minimum notional is allowed
        (BTC, "buy", 0.1, 50_000.0, 5005.0, 0.1),  # 5000 + 0.1 % fee = 5005: fits exactly
        (BTC, "sell", 0.1, 50_000.0, 0.0, 0.1),  # a sell needs no quote cash
        (NO_STEP, "buy", 0.123456789, 10.0, None, 0.123456789),  # no step: unchanged
    ],
)
def test_conform_order_accepts(
    rules: InstrumentRules, side: str, qty: float, price: float, free: float | None, expected: float
) -> None:
    assert conform_order(rules, side, qty, price, free_quote=free) == pytest.approx(expected, abs=1e-15)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "side", "qty", "price", "free", "error", "match"),
    [
        (BTC, "buy", 0.000009, 100.0, None, OrderRejectedError, "below the minimum amount"),
        (SHARES, "buy", 0.5, 10.0, None, OrderRejectedError, "below the minimum amount"),
        (BTC, "buy", 0.00004, 100_000.0, None, OrderRejectedError, "below the minimum notional 5"),
        (NO_STEP, "sell", 0.09, 10.0, None, OrderRejectedError, "minimum notional"),  # 0.9 USD < 1
        (BTC, "buy", 0.1, 50_000.0, 5004.99, InsufficientFundsError, "costs 5005 USDT with fees"),
        (BTC, "buy", 0.0, 100.0, None, OrderRejectedError, "must be positive"),
        (BTC, "buy", float("nan"), 100.0, None, OrderRejectedError, "must be positive"),
        (BTC, "buy", 1.0, 0.0, None, OrderRejectedError, "price"),
        (BTC, "hold", 1.0, 100.0, None, OrderRejectedError, "unknown order side"),
    ],
)
def test_conform_order_refuses_with_one_line(
    rules: InstrumentRules,
    side: str,
    qty: float,
    price: float,
    free: float | None,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match) as caught:
        conform_order(rules, side, qty, price, free_quote=free)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value) and rules.symbol in str(caught.value)


def test_insufficient_funds_is_a_rejection() -> None:
    # brokers treat both as final: never resent
    assert issubclass(InsufficientFundsError, OrderRejectedError)


@pytest.mark.parametrize(
    ("rules", "price", "free", "expected"),
    [
        # 1000 / (30000 × 1.001) = 0.033300033… → 0.03330; cost 0.0333 × 30000 × 1.001 = 999.999
        (BTC, 30_000.0, 1000.0, 0.03330),
        (SHARES, 100.0, 10_000.0, 100.0),  # no fee: exactly 100 shares for exactly the cash
        (SHARES, 100.0, 9_999.99, 99.0),
        (BTC, 100.0, 4.0, 0.0),  # 4 USDT buys less than the 5 USDT minimum notional
        (BTC, 100.0, 0.0, 0.0),
        # 10 / (4 × 1.0025) = 2.4937655860349127 with no step
        (NO_STEP, 4.0, 10.0, 10 / (4 * 1.0025)),
    ],
)
def test_affordable_qty(rules: InstrumentRules, price: float, free: float, expected: float) -> None:
    qty = affordable_qty(rules, price, free)
    assert qty == pytest.approx(expected, rel=1e-12, abs=1e-15)
    if qty:
        assert cost_with_fees(rules, qty, price) <= free


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [("buy", 100.129, 100.12), ("sell", 100.121, 100.13), ("buy", 100.12, 100.12), ("sell", 100.12, 100.12)],
)
def test_conform_price_never_pays_more(side: str, price: float, expected: float) -> None:
    assert conform_price(BTC, side, price) == expected  # type: ignore[arg-type]


def test_conform_price_refuses_nonsense() -> None:
    with pytest.raises(OrderRejectedError, match="must be positive"):
        conform_price(BTC, "buy", -1.0)
    with pytest.raises(OrderRejectedError, match="below the price step"):
        conform_price(BTC, "buy", 0.001)


@given(
    price=st.floats(0.01, 1e6),
    free=st.floats(0.0, 1e7),
    fee=st.sampled_from([0.0, 0.001, 0.0025]),
    step=st.sampled_from([None, 1.0, 0.001, 0.00001]),
)
def test_affordable_qty_always_fits_and_conforms(
    price: float, free: float, fee: float, step: float | None
) -> None:
    rules = InstrumentRules("S", "B", "Q", step, 0.01, 0.0, 1.0, fee)
    qty = affordable_qty(rules, price, free)
    if qty:
        assert cost_with_fees(rules, qty, price) <= free
        assert conform_order(rules, "buy", qty, price, free_quote=free) == qty
