"""Alerts end to end: real paper bots cycling on synthetic bars, real apprise, a loopback webhook.

Fills, strategy changes, reconciliation discrepancies, errors past the error budget, risk halts and
the drawdown / daily-P&L rules each reach the webhook as a JSON payload.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from torchtrader.alerts.receiver import WebhookReceiver
from torchtrader.errors import StrategyError

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def hook() -> Any:
    with WebhookReceiver() as receiver:
        yield receiver


class Bot:
    def __init__(self, tmp_path: Path, url: str, **fields: Any) -> None:
        from torchtrader.bots.config import make_bot_config, make_broker
        from torchtrader.bots.store import StateStore
        from torchtrader.lake import Lake

        self.lake = Lake(str(tmp_path / "lake"))
        self.store = StateStore(f"sqlite:///{tmp_path}/state.db")
        self.data: dict[str, Any] = {
            "name": "a1",
            "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8},
            "symbols": ["BTC/USDT"],
            "timeframe": "1h",
            "capital": 10_000,
            "lookback_bars": 20,
            "fee": 0.001,
            **fields,
        }
        self.data["alerts"] = {"urls": [url], **self.data.get("alerts", {})}
        self.config = make_bot_config(self.data)
        self.broker = make_broker(self.config, store=self.store, lake=self.lake)
        self.hour = 0

    def cycle(self, **changes: Any) -> Any:
        from torchtrader.bots.config import make_bot_config
        from torchtrader.bots.cycle import run_cycle

        config = make_bot_config({**self.data, **changes}) if changes else self.config
        now = START + timedelta(hours=self.hour, minutes=1)
        self.hour += 1
        return run_cycle(config, self.store, self.broker, self.lake, now=now)


def _titles(hook: WebhookReceiver) -> list[str]:
    return [p["title"] for p in hook.payloads]


def test_fills_and_account_rules_alert(tmp_path: Path, hook: WebhookReceiver) -> None:
    bot = Bot(
        tmp_path,
        hook.url,
        alerts={"drawdown_at_least": 0.002, "daily_pnl_at_most": -5.0},
    )
    for _ in range(12):
        bot.cycle()
    fills = bot.store.fills("a1")
    assert len(fills) >= 2
    fill_alerts = [p for p in hook.payloads if p["title"] == "a1: fill"]
    assert [p["message"] for p in fill_alerts] == [
        f"{f.side} {f.qty:g} {f.symbol} at {f.price:g} (fee {f.fee:g})" for f in fills
    ]
    assert {p["type"] for p in fill_alerts} == {"success"}

    # the rules, recomputed from the equity snapshots: alert on crossing, not on every cycle
    points = bot.store.equity("a1")
    peak, was_down, was_losing, crossings, losses = 0.0, False, False, 0, 0
    for point in points:
        peak = max(peak, point.equity)
        down = (peak - point.equity) / peak >= 0.002
        losing = point.equity - 10_000 <= -5.0  # one UTC day: it opens at the first snapshot
        crossings += down and not was_down
        losses += losing and not was_losing
        was_down, was_losing = down, losing
    drawdowns = [t for t in _titles(hook) if t.startswith("a1: drawdown")]
    daily = [t for t in _titles(hook) if t.startswith("a1: daily P&L")]
    assert crossings >= 1 and losses >= 1, "the scenario should cross both thresholds"
    assert len(drawdowns) == crossings
    assert len(daily) == losses
    for title in drawdowns:
        found = re.match(r"a1: drawdown (\d+\.\d+)%$", title)
        assert found and float(found.group(1)) >= 0.2


def test_strategy_change_then_discrepancy_halts_and_alerts(tmp_path: Path, hook: WebhookReceiver) -> None:
    from torchtrader.bots.store import models as m

    bot = Bot(tmp_path, hook.url, alerts={"events": ["strategy_change", "discrepancy", "halt"]})
    for _ in range(3):
        bot.cycle()
    bot.cycle(params={"fast": 4, "slow": 9})
    assert _titles(hook) == ["a1: strategy changed"]
    assert "sma_cross" in hook.payloads[0]["message"]

    with bot.store.session() as s:  # someone moves cash on the bot's account behind its back
        row = s.get(m.PaperBalanceRow, ("a1", "USDT"))
        assert row is not None
        row.total += 500.0
    bot.cycle(params={"fast": 4, "slow": 9})
    assert _titles(hook)[1:] == ["a1: reconciliation discrepancy", "a1: halted"]
    assert hook.payloads[1]["type"] == "warning" and hook.payloads[2]["type"] == "failure"
    assert "USDT" in hook.payloads[1]["message"]
    assert bot.store.require_bot("a1").state == "halted"


def test_errors_alert_and_the_error_budget_halts(tmp_path: Path, hook: WebhookReceiver) -> None:
    bot = Bot(tmp_path, hook.url, risk={"error_budget": 2}, alerts={"events": ["error", "halt"]})
    bot.cycle()
    for _ in range(2):
        with pytest.raises(StrategyError):
            bot.cycle(strategy="no_such_strategy")
    assert _titles(hook) == ["a1: cycle error", "a1: cycle error", "a1: halted"]
    assert hook.payloads[0]["message"].startswith("cycle failed (1 in a row): ")
    assert hook.payloads[1]["message"].startswith("cycle failed (2 in a row): ")
    assert "error budget: 2 consecutive failed cycles" in hook.payloads[2]["message"]
    assert {p["type"] for p in hook.payloads} == {"failure"}


def test_a_risk_halt_alerts(tmp_path: Path, hook: WebhookReceiver) -> None:
    # a 1 % fee costs about 1 % of the equity on the first buy: past a 0.5 % daily loss limit
    bot = Bot(
        tmp_path,
        hook.url,
        fee=0.01,
        risk={"max_daily_loss": 0.005},
        alerts={"events": ["fill", "halt"]},
    )
    for _ in range(12):
        if bot.store.bot("a1") is not None and bot.store.require_bot("a1").state == "halted":
            break
        bot.cycle()
    assert bot.store.require_bot("a1").state == "halted"
    halts = [p for p in hook.payloads if p["title"] == "a1: halted"]
    assert len(halts) == 1
    assert halts[0]["message"].startswith("risk: daily loss ")
    assert "reached max_daily_loss 0.50%" in halts[0]["message"]
    assert _titles(hook).index("a1: fill") < _titles(hook).index("a1: halted")
