"""Risk limits: impossible limits refused in one line; order caps, account halts and budgets as
tables worked by hand."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from torchtrader.bots.risk import (
    AccountView,
    ProposedOrder,
    RiskLimits,
    check_account,
    check_orders,
    consecutive_failures,
    discrepancies_halt,
    error_budget_exhausted,
)
from torchtrader.errors import BotError, ConfigError


def test_defaults_limit_only_order_count_and_errors() -> None:
    limits = RiskLimits()
    assert limits.max_position_notional is None and limits.max_total_notional is None
    assert (limits.max_orders_per_cycle, limits.error_budget, limits.halt_on_discrepancy) == (10, 3, 1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"max_position_notional": -5},
            "risk limit max_position_notional must be a positive amount of the quote currency "
            "(got -5.0): leave it out for no limit",
        ),
        (
            {"max_total_notional": 0},
            "risk limit max_total_notional must be a positive amount of the quote currency "
            "(got 0.0): leave it out for no limit",
        ),
        (
            {"max_position_notional": 5000, "max_total_notional": 1000},
            "risk limit max_position_notional (5000) is above max_total_notional (1000): one "
            "position could never reach it; lower it or raise the total",
        ),
        (
            {"max_daily_loss": 1},
            "risk limit max_daily_loss is a fraction of the day's starting equity: give a number "
            "between 0 and 1, e.g. 0.05 for 5 % (got 1.0)",
        ),
        (
            {"max_daily_loss": 5},
            "risk limit max_daily_loss is a fraction of the day's starting equity: give a number "
            "between 0 and 1, e.g. 0.05 for 5 % (got 5.0)",
        ),
        (
            {"max_drawdown": -0.1},
            "risk limit max_drawdown is a fraction of peak: give a number between 0 and 1, e.g. "
            "0.05 for 5 % (got -0.1)",
        ),
        ({"max_orders_per_cycle": 0}, "risk limit max_orders_per_cycle must be at least 1 (got 0)"),
        ({"error_budget": -1}, "risk limit error_budget must be at least 1 (got -1)"),
        (
            {"halt_on_discrepancy": -2},
            "risk limit halt_on_discrepancy must be 0 (never halt) or more (got -2)",
        ),
        (
            {"max_position": 5},
            "unknown risk limit 'max_position': choose from max_position_notional, "
            "max_total_notional, max_daily_loss, max_drawdown, max_orders_per_cycle, error_budget, "
            "halt_on_discrepancy",
        ),
        (
            {"error_budget": "many"},
            "risk limit error_budget: Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
def test_impossible_limits_are_one_line_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RiskLimits.from_mapping(fields)
    assert str(caught.value) == message
    with pytest.raises(ValidationError):
        RiskLimits.model_validate(fields)


def test_nan_is_not_a_limit() -> None:
    with pytest.raises(ConfigError, match="max_position_notional must be a positive amount"):
        RiskLimits.from_mapping({"max_position_notional": float("nan")})


def test_limits_are_frozen() -> None:
    with pytest.raises(ValidationError):
        RiskLimits().error_budget = 5  # type: ignore[misc]


# check_account: loss = (day start - equity) / day start; drawdown = (peak - equity) / peak.
@pytest.mark.parametrize(
    ("equity", "peak", "day_start", "halt", "reasons"),
    [
        (9_501, 12_000, 10_000, False, []),  # loss 4.99 %, drawdown 20.8 %
        (
            9_500,
            12_000,
            10_000,
            True,
            ["daily loss 5.00% of the day's starting equity 10000.00 reached max_daily_loss 5.00%"],
        ),
        (
            9_000,
            12_000,
            9_000,
            True,
            ["drawdown 25.00% from the peak equity 12000.00 reached max_drawdown 25.00%"],
        ),
        (
            8_000,
            12_000,
            10_000,
            True,
            [
                "daily loss 20.00% of the day's starting equity 10000.00 reached max_daily_loss 5.00%",
                "drawdown 33.33% from the peak equity 12000.00 reached max_drawdown 25.00%",
            ],
        ),
        (11_000, 11_000, 10_000, False, []),  # a gain
    ],
)
def test_account_halts(equity: float, peak: float, day_start: float, halt: bool, reasons: list[str]) -> None:
    limits = RiskLimits(max_daily_loss=0.05, max_drawdown=0.25)
    decision = check_account(limits, AccountView(equity, peak, day_start))
    assert decision.halt is halt
    assert list(decision.reasons) == reasons


def test_no_account_limits_never_halt() -> None:
    assert not check_account(RiskLimits(), AccountView(1, 1_000_000, 1_000_000)).halt


def _buy(symbol: str, qty: float, price: float = 100.0) -> ProposedOrder:
    return ProposedOrder(symbol, "buy", qty, price)


def _sell(symbol: str, qty: float, price: float = 100.0) -> ProposedOrder:
    return ProposedOrder(symbol, "sell", qty, price)


CAPS = RiskLimits(max_position_notional=1_000, max_total_notional=1_500)
FLAT = AccountView(10_000, 10_000, 10_000)


def _held(**qty: float) -> AccountView:
    return AccountView(10_000, 10_000, 10_000, positions=qty, prices=dict.fromkeys(qty, 100.0))


# All prices 100: the per-symbol cap is 10 units, the total cap 15 units.
@pytest.mark.parametrize(
    ("account", "order", "action", "qty", "reason"),
    [
        (FLAT, _buy("BTC", 5), "pass", 5, None),
        (FLAT, _buy("BTC", 10), "pass", 10, None),  # exactly at the cap
        (FLAT, _buy("BTC", 15), "trim", 10, "max_position_notional 1000: 15 trimmed to 10 BTC"),
        (_held(BTC=8), _buy("BTC", 5), "trim", 2, "max_position_notional 1000: 5 trimmed to 2 BTC"),
        (_held(BTC=12), _buy("BTC", 1), "refuse", 0, "max_position_notional 1000 leaves no room for BTC"),
        (_held(BTC=12), _sell("BTC", 5), "pass", 5, None),  # reducing always passes
        (_held(BTC=12), _sell("BTC", 12), "pass", 12, None),  # closing
        # flip from +3 to -12: |-12| x 100 > 1000, so it ends at -10: sell 13
        (_held(BTC=3), _sell("BTC", 15), "trim", 13, "max_position_notional 1000: 15 trimmed to 13 BTC"),
        (FLAT, _sell("BTC", 4), "pass", 4, None),  # a short counts like a long
        (_held(BTC=-9), _sell("BTC", 4), "trim", 1, "max_position_notional 1000: 4 trimmed to 1 BTC"),
        # ETH holds 1000 of the 1500 total: 500 left = 5 BTC
        (_held(ETH=10), _buy("BTC", 8), "trim", 5, "max_total_notional 1500: 8 trimmed to 5 BTC"),
        (_held(ETH=-10), _buy("BTC", 8), "trim", 5, "max_total_notional 1500: 8 trimmed to 5 BTC"),
        (_held(ETH=10, SOL=5), _buy("BTC", 1), "refuse", 0, "max_total_notional 1500 leaves no room for BTC"),
    ],
)
def test_position_caps(
    account: AccountView, order: ProposedOrder, action: str, qty: float, reason: str | None
) -> None:
    (verdict,) = check_orders(CAPS, account, [order]).verdicts
    assert (verdict.action, verdict.qty, verdict.reason) == (action, pytest.approx(qty), reason)


def test_price_of_the_order_values_the_cap() -> None:
    # BTC at 250: the 1000 cap is 4 units
    (verdict,) = check_orders(CAPS, FLAT, [_buy("BTC", 6, price=250)]).verdicts
    assert (verdict.action, verdict.qty) == ("trim", pytest.approx(4))


def test_orders_in_one_cycle_share_the_room() -> None:
    decision = check_orders(CAPS, FLAT, [_buy("BTC", 6), _buy("BTC", 6), _buy("ETH", 8)])
    # BTC: 6 then 4 (cap 10); ETH: total 1500 - 1000 BTC = 500 -> 5
    assert [(v.action, v.qty) for v in decision.verdicts] == [
        ("pass", 6),
        ("trim", pytest.approx(4)),
        ("trim", pytest.approx(5)),
    ]
    assert [(o.symbol, o.qty) for o in decision.approved] == [
        ("BTC", 6),
        ("BTC", pytest.approx(4)),
        ("ETH", pytest.approx(5)),
    ]


def test_reducing_orders_go_first_and_free_room() -> None:
    # ETH 10 -> 0 first frees the total, so the BTC buy placed before it in the list fits whole.
    decision = check_orders(CAPS, _held(ETH=10), [_buy("BTC", 10), _sell("ETH", 10)])
    assert [(v.action, v.qty) for v in decision.verdicts] == [("pass", 10), ("pass", 10)]


def test_order_budget_refuses_the_rest_but_never_a_reduction() -> None:
    limits = RiskLimits(max_orders_per_cycle=2)
    account = _held(SOL=3)
    orders = [_buy("BTC", 1), _buy("ETH", 1), _sell("SOL", 3)]
    decision = check_orders(limits, account, orders)
    assert [(v.order.symbol, v.action) for v in decision.verdicts] == [
        ("BTC", "pass"),
        ("ETH", "refuse"),
        ("SOL", "pass"),
    ]
    assert decision.verdicts[1].reason == "max_orders_per_cycle 2 already placed this cycle"


def test_a_halted_account_refuses_every_order() -> None:
    limits = RiskLimits(max_daily_loss=0.05)
    account = AccountView(9_000, 10_000, 10_000, {"BTC": 1}, {"BTC": 100})
    decision = check_orders(limits, account, [_buy("ETH", 1), _sell("BTC", 1)])
    assert decision.halt
    assert decision.approved == []
    assert {v.reason for v in decision.verdicts} == {
        "halted: daily loss 10.00% of the day's starting equity 10000.00 reached max_daily_loss 5.00%"
    }
    assert decision.to_json()["orders"][0] == {
        "symbol": "ETH",
        "side": "buy",
        "qty": 1,
        "price": 100.0,
        "client_order_id": None,
        "approved_qty": 0.0,
        "action": "refuse",
        "reason": decision.verdicts[0].reason,
    }


def test_an_unvalued_position_is_an_error() -> None:
    with pytest.raises(BotError, match="no price for the SOL position"):
        check_orders(CAPS, AccountView(1, 1, 1, {"SOL": 2}), [_buy("BTC", 1)])


@pytest.mark.parametrize(("qty", "price"), [(0, 100), (-1, 100), (1, 0)])
def test_proposed_orders_must_be_positive(qty: float, price: float) -> None:
    with pytest.raises(BotError, match="quantity and price must be positive"):
        ProposedOrder("BTC", "buy", qty, price)


@pytest.mark.parametrize(
    ("outcomes", "in_a_row", "exhausted"),
    [
        ([], 0, False),
        ([True, True], 0, False),
        ([False, False, True], 0, False),
        ([True, False, False], 2, False),
        ([True, False, False, False], 3, True),
        ([False] * 5, 5, True),
    ],
)
def test_error_budget(outcomes: list[bool], in_a_row: int, exhausted: bool) -> None:
    assert consecutive_failures(outcomes) == in_a_row
    assert error_budget_exhausted(RiskLimits(error_budget=3), in_a_row) is exhausted


@pytest.mark.parametrize(
    ("threshold", "found", "halts"),
    [(1, 0, False), (1, 1, True), (3, 2, False), (3, 3, True), (0, 100, False)],
)
def test_discrepancy_threshold(threshold: int, found: int, halts: bool) -> None:
    assert discrepancies_halt(RiskLimits(halt_on_discrepancy=threshold), found) is halts
