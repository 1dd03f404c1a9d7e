"""AlertRules validation and the evaluator: which events and account states become alerts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from torchtrader.alerts import (
    EVENT_KINDS,
    AlertConfig,
    AlertEvent,
    AlertRules,
    alerts_for,
    deliver,
)
from torchtrader.alerts.receiver import WebhookReceiver


@dataclass(frozen=True)
class Account:
    equity: float
    peak_equity: float
    day_start_equity: float


def test_defaults_alert_on_every_event_and_no_rule() -> None:
    rules = AlertRules()
    assert rules.events == EVENT_KINDS
    assert rules.drawdown_at_least is None and rules.daily_pnl_at_most is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"events": ["fill", "fils"]}, "unknown alert event fils: choose from"),
        ({"drawdown_at_least": 0}, "greater than 0"),
        ({"drawdown_at_least": 1.0}, "less than 1"),
        ({"drawdown_at_least": -0.1}, "greater than 0"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_impossible_rules_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertRules.model_validate(fields)


def test_rules_are_frozen() -> None:
    with pytest.raises(ValidationError):
        AlertRules().drawdown_at_least = 0.2  # type: ignore[misc]


def test_alert_config_reads_like_a_toml_table() -> None:
    config = AlertConfig.model_validate(
        {"urls": ["json://127.0.0.1:9/x"], "events": ["halt", "error"], "daily_pnl_at_most": -250}
    )
    assert config.urls == ("json://127.0.0.1:9/x",)
    assert config.events == {"halt", "error"}
    assert config.daily_pnl_at_most == -250.0
    with pytest.raises(ValidationError, match="has no scheme"):
        AlertConfig.model_validate({"urls": ["127.0.0.1:9"]})


EVENTS = [
    AlertEvent("fill", "bought 0.5 BTC/USDT at 100.00"),
    AlertEvent("discrepancy", "venue holds 0.4 BTC/USDT, store 0.5"),
    AlertEvent("error", "cycle failed: VenueUnavailableError"),
]


@pytest.mark.parametrize(
    ("selected", "kinds"),
    [
        (EVENT_KINDS, ["fill", "discrepancy", "error"]),
        ({"fill"}, ["fill"]),
        ({"halt", "error"}, ["error"]),
        (set(), []),
    ],
)
def test_only_selected_event_kinds_alert(selected: set[str], kinds: list[str]) -> None:
    alerts = alerts_for(AlertRules(events=frozenset(selected)), bot="b1", events=EVENTS)  # type: ignore[arg-type]
    assert [a.kind for a in alerts] == kinds
    for alert in alerts:
        assert alert.title.startswith("b1: ")


def test_event_alert_text() -> None:
    (alert,) = alerts_for(AlertRules(events=frozenset({"fill"})), bot="b1", events=EVENTS)
    assert alert.to_json() == {
        "kind": "fill",
        "title": "b1: fill",
        "body": "bought 0.5 BTC/USDT at 100.00",
    }


# Drawdown = 1 - equity / peak; the rule alerts when it *crosses* the threshold.
# peak 10 000: equity 9 000 -> 10 %, 9 100 -> 9 %, 8 000 -> 20 %.
@pytest.mark.parametrize(
    ("previous", "now", "fires"),
    [
        (None, Account(9_000, 10_000, 9_000), True),  # first look, already 10 % down
        (None, Account(9_100, 10_000, 9_100), False),  # 9 % < 10 %
        (Account(9_100, 10_000, 9_100), Account(9_000, 10_000, 9_000), True),  # crossed
        (Account(9_000, 10_000, 9_000), Account(8_000, 10_000, 9_000), False),  # still in it
        (Account(8_000, 10_000, 9_000), Account(9_500, 10_000, 9_000), False),  # recovered
        (Account(9_500, 10_000, 9_000), Account(8_900, 10_000, 9_000), True),  # in it again
        (None, Account(10_500, 10_000, 10_000), False),  # above the peak: 0 %
        (None, Account(0, 0, 0), False),  # no peak yet
    ],
)
def test_drawdown_rule_fires_on_crossing(previous: Account | None, now: Account, fires: bool) -> None:
    rules = AlertRules(events=frozenset(), drawdown_at_least=0.10)
    alerts = alerts_for(rules, bot="b1", account=now, previous=previous)
    assert [a.kind for a in alerts] == (["drawdown"] if fires else [])


def test_drawdown_alert_text_worked_by_hand() -> None:
    rules = AlertRules(events=frozenset(), drawdown_at_least=0.10)
    (alert,) = alerts_for(rules, bot="b1", account=Account(8_750, 10_000, 9_000))
    assert alert.title == "b1: drawdown 12.50%"
    assert alert.body == "equity 8750.00 is 12.50% below its peak 10000.00 (alert at 10.00%)"


# Daily P&L = equity - equity at the start of the day; alert at <= -250.
@pytest.mark.parametrize(
    ("previous", "now", "fires"),
    [
        (None, Account(9_750, 10_000, 10_000), True),  # exactly -250
        (None, Account(9_751, 10_000, 10_000), False),  # -249
        (Account(9_900, 10_000, 10_000), Account(9_700, 10_000, 10_000), True),
        (Account(9_700, 10_000, 10_000), Account(9_600, 10_000, 10_000), False),
        (Account(9_600, 10_000, 10_000), Account(9_600, 10_000, 9_600), False),  # new day: 0
        (Account(9_600, 10_000, 9_600), Account(9_300, 10_000, 9_600), True),  # -300 today
    ],
)
def test_daily_pnl_rule_fires_on_crossing(previous: Account | None, now: Account, fires: bool) -> None:
    rules = AlertRules(events=frozenset(), daily_pnl_at_most=-250)
    alerts = alerts_for(rules, bot="b1", account=now, previous=previous)
    assert [a.kind for a in alerts] == (["daily_pnl"] if fires else [])


def test_daily_pnl_alert_text_worked_by_hand() -> None:
    rules = AlertRules(events=frozenset(), daily_pnl_at_most=-250)
    (alert,) = alerts_for(rules, bot="b1", account=Account(9_700, 10_000, 10_000))
    assert alert.title == "b1: daily P&L -300.00"
    assert "P&L -300.00 (alert at -250.00)" in alert.body


def test_events_then_rules_delivered_to_the_webhook() -> None:
    rules = AlertRules(events=frozenset({"error"}), drawdown_at_least=0.05, daily_pnl_at_most=-100)
    alerts = alerts_for(rules, bot="b1", events=EVENTS, account=Account(9_000, 10_000, 9_500))
    assert [a.kind for a in alerts] == ["error", "drawdown", "daily_pnl"]
    with WebhookReceiver() as hook:
        assert deliver([hook.url], alerts) == 3
        assert [(p["title"], p["type"]) for p in hook.payloads] == [
            ("b1: cycle error", "failure"),
            ("b1: drawdown 10.00%", "warning"),
            ("b1: daily P&L -500.00", "warning"),
        ]
