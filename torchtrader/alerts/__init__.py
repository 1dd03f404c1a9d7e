"""Alerts: apprise delivery (``send_alert``) and the rules that pick what is worth a message.

See docs/alerts.md for the URL forms, the event kinds and the account rules.
"""

from torchtrader.alerts.rules import (
    EVENT_KINDS,
    Alert,
    AlertConfig,
    AlertEvent,
    AlertRules,
    EventKind,
    alerts_for,
    daily_pnl,
    deliver,
    drawdown,
)
from torchtrader.alerts.send import NOTIFY_TYPES, send_alert

__all__ = [
    "EVENT_KINDS",
    "NOTIFY_TYPES",
    "Alert",
    "AlertConfig",
    "AlertEvent",
    "AlertRules",
    "EventKind",
    "alerts_for",
    "daily_pnl",
    "deliver",
    "drawdown",
    "send_alert",
]
