"""Venue rules applied before an order leaves: precision, minimums, and cash-account feasibility.

Every broker (paper, ccxt, Alpaca) runs an order through ``conform_order`` with the instrument's
``InstrumentRules``, so an order the venue would refuse is refused here first, with a one-line reason,
and never sent. Quantities are rounded *down* to the amount step (rounding up could overspend or sell
more than is held). Arithmetic is decimal: ``0.3 / 0.1`` must give 3 steps, not 2.999….

A buy is feasible on a cash account when ``qty × price × (1 + fee_rate) ≤ free_quote``: the fee is paid
on top of the notional, so sizing that ignores it leaves the venue to reject the order.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from torchtrader.bots.broker import InstrumentRules, OrderSide
from torchtrader.errors import InsufficientFundsError, OrderRejectedError

_SNAP = Decimal("1e-9")


def _dec(value: float) -> Decimal:
    # repr() is the shortest string that round-trips the float: 0.1 stays 0.1, not 0.1000000000000000055…
    return Decimal(repr(float(value)))


def round_to_step(value: float, step: float | None, *, up: bool = False) -> float:
    """``value`` rounded down (or up) to a multiple of ``step``; unchanged when there is no step."""
    if step is None or step <= 0:
        return float(value)
    step_dec = _dec(step)
    ratio = _dec(value) / step_dec
    # float noise (0.3 / 0.1 = 2.9999999999999996) must not cost a whole step: snap within 1e-9 steps
    ratio += -_SNAP if up else _SNAP
    steps = ratio.to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return float(steps * step_dec)


def conform_price(rules: InstrumentRules, side: OrderSide, price: float) -> float:
    """A limit price on the venue's tick: a buy rounds down and a sell up, so neither pays more."""
    if not price > 0:
        raise OrderRejectedError(f"{rules.symbol}: limit price {price!r} must be positive")
    conformed = round_to_step(price, rules.price_step, up=side == "sell")
    if not conformed > 0:
        raise OrderRejectedError(
            f"{rules.symbol}: limit price {price:g} is below the price step {rules.price_step:g}"
        )
    return conformed


def cost_with_fees(rules: InstrumentRules, qty: float, price: float) -> float:
    """What a buy of ``qty`` at ``price`` takes from the quote balance, fee included."""
    return float(_dec(qty) * _dec(price) * (1 + _dec(rules.fee_rate)))


def conform_order(
    rules: InstrumentRules,
    side: OrderSide,
    qty: float,
    price: float,
    *,
    free_quote: float | None = None,
) -> float:
    """The quantity the venue will accept for ``qty`` at (an estimate of) ``price``.

    Rounds ``qty`` down to the amount step; raises ``OrderRejectedError`` when the rounded order is below
    the minimum amount or notional, and ``InsufficientFundsError`` when it is a buy whose cost plus fees
    exceeds ``free_quote`` (when given).
    """
    if side not in ("buy", "sell"):
        raise OrderRejectedError(f"{rules.symbol}: unknown order side {side!r}; use buy or sell")
    if not qty > 0:
        raise OrderRejectedError(f"{rules.symbol}: order quantity {qty!r} must be positive")
    if not price > 0:
        raise OrderRejectedError(f"{rules.symbol}: price {price!r} must be positive to size an order")
    conformed = round_to_step(qty, rules.amount_step)
    if conformed <= 0 or conformed < rules.min_amount:
        raise OrderRejectedError(
            f"{rules.symbol}: {side} {qty:g} {rules.base} is below the minimum amount "
            f"{max(rules.min_amount, rules.amount_step or 0):g} (after rounding to step "
            f"{rules.amount_step or 0:g}); raise the order size"
        )
    notional = float(_dec(conformed) * _dec(price))
    if notional < rules.min_notional:
        raise OrderRejectedError(
            f"{rules.symbol}: {side} {conformed:g} {rules.base} at {price:g} is {notional:.8g} "
            f"{rules.quote}, below the minimum notional {rules.min_notional:g} {rules.quote}"
        )
    if side == "buy" and free_quote is not None:
        cost = cost_with_fees(rules, conformed, price)
        if cost > free_quote:
            raise InsufficientFundsError(
                f"{rules.symbol}: buy {conformed:g} {rules.base} at {price:g} costs {cost:.8g} "
                f"{rules.quote} with fees, more than the free {free_quote:.8g} {rules.quote}"
            )
    return conformed


def affordable_qty(rules: InstrumentRules, price: float, free_quote: float) -> float:
    """The largest quantity on the amount step whose cost plus fees fits ``free_quote``.

    0.0 when that quantity is below the venue's minimum amount or notional (nothing can be bought).
    """
    if not price > 0 or not free_quote > 0:
        return 0.0
    raw = _dec(free_quote) / (_dec(price) * (1 + _dec(rules.fee_rate)))
    if rules.amount_step is not None and rules.amount_step > 0:
        step = _dec(rules.amount_step)
        raw = (raw / step).to_integral_value(rounding=ROUND_FLOOR) * step
    qty = float(raw)
    # the float nearest a decimal can lie just above it: step down ulp by ulp until it provably fits
    for _ in range(4):
        if qty <= 0 or cost_with_fees(rules, qty, price) <= free_quote:
            break
        qty = math.nextafter(qty, 0.0)
    if (
        qty <= 0
        or cost_with_fees(rules, qty, price) > free_quote
        or qty < rules.min_amount
        or float(_dec(qty) * _dec(price)) < rules.min_notional
    ):
        return 0.0
    return qty
