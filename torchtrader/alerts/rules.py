"""Which bot happenings become alerts: chosen event kinds plus two account rules.

Events are what the bot records (a fill, a refused or ambiguous order, a risk halt, a
reconciliation discrepancy, a failed cycle, a strategy or model change); the user picks the kinds
worth a message. The account rules watch the
equity: drawdown from the peak at least ``drawdown_at_least`` (a fraction), and the day's P&L at
most ``daily_pnl_at_most`` (quote currency, usually negative). A rule alerts when it *becomes* true
(compared with the previous evaluation), not on every cycle it stays true, so a bot sitting in a
drawdown does not page anyone every minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Final, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from torchtrader.alerts.send import send_alert

EventKind = Literal[
    "fill",
    "order_rejected",
    "ambiguous",
    "halt",
    "discrepancy",
    "error",
    "strategy_change",
    "model_change",
]
EVENT_KINDS: Final[frozenset[EventKind]] = frozenset(get_args(EventKind))
RuleKind = Literal["drawdown", "daily_pnl"]


class AlertRules(BaseModel):
    """What to alert on. By default every event kind, and no account rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: frozenset[EventKind] = EVENT_KINDS
    drawdown_at_least: Annotated[float, Field(gt=0, lt=1)] | None = None
    daily_pnl_at_most: float | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple, set, frozenset)):
            unknown = sorted(str(v) for v in value if v not in EVENT_KINDS)
            if unknown:
                raise ValueError(
                    f"unknown alert event {', '.join(unknown)}: choose from {', '.join(sorted(EVENT_KINDS))}"
                )
        return value


class AlertConfig(AlertRules):
    """A bot's ``[alerts]`` table: the apprise URLs plus the rules."""

    urls: tuple[str, ...] = ()

    @field_validator("urls")
    @classmethod
    def _look_like_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if "://" not in url:
                raise ValueError(f"alert URL {url!r} has no scheme: write it like json://host:port")
        return value


class EventLike(Protocol):
    """Anything the bot records as an event (the state store's rows, or ``AlertEvent``)."""

    @property
    def kind(self) -> str: ...

    @property
    def message(self) -> str: ...


class EquityLike(Protocol):
    """The account figures the rules need (``bots.risk.AccountView`` is one)."""

    @property
    def equity(self) -> float: ...

    @property
    def peak_equity(self) -> float: ...

    @property
    def day_start_equity(self) -> float: ...


@dataclass(frozen=True)
class AlertEvent:
    kind: str
    message: str


@dataclass(frozen=True)
class Alert:
    kind: str
    title: str
    body: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def send(self, urls: Sequence[str]) -> bool:
        return send_alert(urls, title=self.title, body=self.body, kind=self.kind)


def drawdown(account: EquityLike) -> float:
    """Fraction of the peak equity lost (0 at or above the peak)."""
    if account.peak_equity <= 0:
        return 0.0
    # (peak - equity) / peak, not 1 - equity / peak: a 10 % drop computes as exactly 0.1
    return max(0.0, (account.peak_equity - account.equity) / account.peak_equity)


def daily_pnl(account: EquityLike) -> float:
    return account.equity - account.day_start_equity


_HEADLINES: Final[dict[str, str]] = {
    "fill": "fill",
    "order_rejected": "order rejected",
    "ambiguous": "order outcome unknown",
    "halt": "halted",
    "discrepancy": "reconciliation discrepancy",
    "error": "cycle error",
    "strategy_change": "strategy changed",
    "model_change": "model changed",
}


def alerts_for(
    rules: AlertRules,
    *,
    bot: str,
    events: Sequence[EventLike] = (),
    account: EquityLike | None = None,
    previous: EquityLike | None = None,
) -> list[Alert]:
    """The alerts ``events`` and ``account`` call for under ``rules``.

    ``previous`` is the account at the previous evaluation: a rule that already held then does
    not alert again. Events of kinds the rules do not select are skipped.
    """
    alerts = [
        Alert(event.kind, f"{bot}: {_HEADLINES[event.kind]}", event.message)
        for event in events
        if event.kind in rules.events
    ]
    if account is None:
        return alerts
    if rules.drawdown_at_least is not None:
        limit = rules.drawdown_at_least
        now = drawdown(account)
        if now >= limit and (previous is None or drawdown(previous) < limit):
            alerts.append(
                Alert(
                    "drawdown",
                    f"{bot}: drawdown {now:.2%}",
                    f"equity {account.equity:.2f} is {now:.2%} below its peak "
                    f"{account.peak_equity:.2f} (alert at {limit:.2%})",
                )
            )
    if rules.daily_pnl_at_most is not None:
        limit_pnl = rules.daily_pnl_at_most
        pnl = daily_pnl(account)
        if pnl <= limit_pnl and (previous is None or daily_pnl(previous) > limit_pnl):
            alerts.append(
                Alert(
                    "daily_pnl",
                    f"{bot}: daily P&L {pnl:+.2f}",
                    f"equity {account.equity:.2f} against {account.day_start_equity:.2f} at the "
                    f"start of the day: P&L {pnl:+.2f} (alert at {limit_pnl:+.2f})",
                )
            )
    return alerts


def deliver(urls: Sequence[str], alerts: Sequence[Alert]) -> int:
    """Send each alert; the number delivered to every URL (failures are logged by ``send_alert``)."""
    return sum(alert.send(urls) for alert in alerts)
