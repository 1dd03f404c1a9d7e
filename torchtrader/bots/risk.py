"""Risk limits a bot obeys before any order leaves, and the account checks that halt it.

Pure functions over small frozen values, so every rule is a table test:

- ``check_orders``: the per-symbol and total position notional caps trim (or refuse) orders that
  add exposure; orders that only reduce exposure always pass, and go first, so a full order budget
  never blocks getting smaller; at most ``max_orders_per_cycle`` orders pass per cycle.
- ``check_account``: the day's loss and the drawdown from the peak halt the bot at their limits.
- ``error_budget_exhausted`` / ``discrepancies_halt``: the halts on repeated failed cycles and on
  reconciliation discrepancies.

Notional amounts are in the quote currency; ``max_daily_loss`` and ``max_drawdown`` are fractions
(0.05 = 5 %) of the day's starting equity and of the peak equity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from torchtrader.bots.broker import OrderSide
from torchtrader.errors import BotError, ConfigError

_REL_TOL = 1e-9


class RiskLimits(BaseModel):
    """A bot's limits; ``None`` means no limit. Impossible combinations are refused on creation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_notional: float | None = None
    max_total_notional: float | None = None
    max_daily_loss: float | None = None
    max_drawdown: float | None = None
    max_orders_per_cycle: int = 10
    error_budget: int = 3
    halt_on_discrepancy: int = 1
    """Discrepancies found in one reconciliation that halt the bot (0: never halt, only alert)."""

    @field_validator("max_position_notional", "max_total_notional")
    @classmethod
    def _positive_amount(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(
                f"risk limit {info.field_name} must be a positive amount of the quote currency "
                f"(got {value}): leave it out for no limit"
            )
        return value

    @field_validator("max_daily_loss", "max_drawdown")
    @classmethod
    def _fraction(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and not 0 < value < 1:
            base = "the day's starting equity" if info.field_name == "max_daily_loss" else "peak"
            raise ValueError(
                f"risk limit {info.field_name} is a fraction of {base}: give a number between 0 "
                f"and 1, e.g. 0.05 for 5 % (got {value})"
            )
        return value

    @field_validator("max_orders_per_cycle", "error_budget")
    @classmethod
    def _at_least_one(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"risk limit {info.field_name} must be at least 1 (got {value})")
        return value

    @field_validator("halt_on_discrepancy")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"risk limit halt_on_discrepancy must be 0 (never halt) or more (got {value})")
        return value

    @model_validator(mode="after")
    def _position_fits_total(self) -> RiskLimits:
        per_symbol, total = self.max_position_notional, self.max_total_notional
        if per_symbol is not None and total is not None and per_symbol > total:
            raise ValueError(
                f"risk limit max_position_notional ({per_symbol:g}) is above max_total_notional "
                f"({total:g}): one position could never reach it; lower it or raise the total"
            )
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskLimits:
        """Validated limits, or a one-line ``ConfigError`` naming the first impossible one."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as error:
            first = error.errors()[0]
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = f"unknown risk limit {first['loc'][0]!r}: choose from {', '.join(cls.model_fields)}"
            elif first["type"] != "value_error":
                message = f"risk limit {'.'.join(map(str, first['loc']))}: {message}"
            raise ConfigError(message) from None


@dataclass(frozen=True)
class AccountView:
    """The account as the risk checks see it: signed quantities and last prices per symbol."""

    equity: float
    peak_equity: float
    day_start_equity: float
    positions: Mapping[str, float] = field(default_factory=dict)
    prices: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ProposedOrder:
    """An order the cycle wants to place; ``price`` values it (the last price)."""

    symbol: str
    side: OrderSide
    qty: float
    price: float
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        if not (self.qty > 0 and self.price > 0):
            raise BotError(
                f"proposed {self.side} of {self.qty} {self.symbol} at {self.price}: quantity and "
                f"price must be positive"
            )

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side == "buy" else -self.qty


Action = Literal["pass", "trim", "refuse"]


@dataclass(frozen=True)
class OrderVerdict:
    order: ProposedOrder
    qty: float
    action: Action
    reason: str | None = None

    @property
    def approved(self) -> ProposedOrder | None:
        """The order to send (with the trimmed quantity), or None when refused."""
        return None if self.action == "refuse" else replace(self.order, qty=self.qty)


@dataclass(frozen=True)
class RiskDecision:
    verdicts: tuple[OrderVerdict, ...] = ()
    halt: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def approved(self) -> list[ProposedOrder]:
        return [o for v in self.verdicts if (o := v.approved) is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "halt": self.halt,
            "reasons": list(self.reasons),
            "orders": [
                {**asdict(v.order), "approved_qty": v.qty, "action": v.action, "reason": v.reason}
                for v in self.verdicts
            ],
        }


def daily_loss_fraction(account: AccountView) -> float:
    """Loss since the start of the day as a fraction of that day's starting equity (gain: < 0)."""
    if account.day_start_equity <= 0:
        return 0.0
    return (account.day_start_equity - account.equity) / account.day_start_equity


def drawdown_fraction(account: AccountView) -> float:
    if account.peak_equity <= 0:
        return 0.0
    return max(0.0, (account.peak_equity - account.equity) / account.peak_equity)


def check_account(limits: RiskLimits, account: AccountView) -> RiskDecision:
    """Halt when the day's loss or the drawdown reached its limit."""
    reasons = []
    loss = daily_loss_fraction(account)
    if limits.max_daily_loss is not None and loss >= limits.max_daily_loss:
        reasons.append(
            f"daily loss {loss:.2%} of the day's starting equity {account.day_start_equity:.2f} "
            f"reached max_daily_loss {limits.max_daily_loss:.2%}"
        )
    dd = drawdown_fraction(account)
    if limits.max_drawdown is not None and dd >= limits.max_drawdown:
        reasons.append(
            f"drawdown {dd:.2%} from the peak equity {account.peak_equity:.2f} "
            f"reached max_drawdown {limits.max_drawdown:.2%}"
        )
    return RiskDecision(halt=bool(reasons), reasons=tuple(reasons))


def check_orders(limits: RiskLimits, account: AccountView, orders: Sequence[ProposedOrder]) -> RiskDecision:
    """Which of ``orders`` may leave, with what quantity, and why the others may not."""
    account_check = check_account(limits, account)
    if account_check.halt:
        reason = "halted: " + "; ".join(account_check.reasons)
        refused = tuple(OrderVerdict(o, 0.0, "refuse", reason) for o in orders)
        return replace(account_check, verdicts=refused)

    prices = {**account.prices, **{o.symbol: o.price for o in orders}}
    held = dict(account.positions)
    for symbol, qty in held.items():
        if qty and symbol not in prices:
            raise BotError(f"no price for the {symbol} position: the risk check cannot value it")

    # Exposure-reducing orders first: they free room under the caps and must never be crowded out.
    reducing = [i for i, o in enumerate(orders) if _reduces(held.get(o.symbol, 0.0), o.signed_qty)]
    adding = [i for i in range(len(orders)) if i not in set(reducing)]
    verdicts: dict[int, OrderVerdict] = {}
    accepted = 0
    for index in reducing + adding:
        order = orders[index]
        if accepted >= limits.max_orders_per_cycle:
            verdicts[index] = OrderVerdict(
                order,
                0.0,
                "refuse",
                f"max_orders_per_cycle {limits.max_orders_per_cycle} already placed this cycle",
            )
            continue
        verdict = _cap(limits, order, held, prices)
        verdicts[index] = verdict
        if verdict.action != "refuse":
            accepted += 1
            signed = verdict.qty if order.side == "buy" else -verdict.qty
            held[order.symbol] = held.get(order.symbol, 0.0) + signed
    return RiskDecision(verdicts=tuple(verdicts[i] for i in range(len(orders))))


def _reduces(current: float, delta: float) -> bool:
    new = current + delta
    return abs(new) <= abs(current) and (new == 0 or math.copysign(1, new) == math.copysign(1, current))


def _cap(
    limits: RiskLimits,
    order: ProposedOrder,
    held: Mapping[str, float],
    prices: Mapping[str, float],
) -> OrderVerdict:
    current = held.get(order.symbol, 0.0)
    wanted = current + order.signed_qty
    if _reduces(current, order.signed_qty):
        return OrderVerdict(order, order.qty, "pass")
    final_abs, why = abs(wanted), None
    if limits.max_position_notional is not None:
        cap = limits.max_position_notional / order.price
        if cap < final_abs:
            final_abs, why = cap, f"max_position_notional {limits.max_position_notional:g}"
    if limits.max_total_notional is not None:
        others = sum(abs(q) * prices[s] for s, q in held.items() if s != order.symbol and q)
        cap = max(0.0, limits.max_total_notional - others) / order.price
        if cap < final_abs:
            final_abs, why = cap, f"max_total_notional {limits.max_total_notional:g}"
    capped = math.copysign(final_abs, wanted)
    qty = max(0.0, (capped - current) if order.side == "buy" else (current - capped))
    if why is None or qty >= order.qty * (1 - _REL_TOL):
        return OrderVerdict(order, order.qty, "pass")
    if qty <= order.qty * _REL_TOL:
        return OrderVerdict(order, 0.0, "refuse", f"{why} leaves no room for {order.symbol}")
    return OrderVerdict(order, qty, "trim", f"{why}: {order.qty:g} trimmed to {qty:g} {order.symbol}")


def consecutive_failures(outcomes: Sequence[bool]) -> int:
    """How many of the latest cycles failed in a row (``outcomes``: oldest first, True = ok)."""
    count = 0
    for ok in reversed(outcomes):
        if ok:
            break
        count += 1
    return count


def error_budget_exhausted(limits: RiskLimits, failures_in_a_row: int) -> bool:
    """Halt after ``error_budget`` consecutive failed cycles."""
    return failures_in_a_row >= limits.error_budget


def discrepancies_halt(limits: RiskLimits, discrepancies: int) -> bool:
    """Whether one reconciliation's discrepancies halt the bot (each one alerts regardless)."""
    return limits.halt_on_discrepancy > 0 and discrepancies >= limits.halt_on_discrepancy
