"""send_alert through real apprise to a loopback webhook: payloads, failures that never raise,
secrets masked."""

from __future__ import annotations

import logging
import socket

import pytest

from torchtrader.alerts import NOTIFY_TYPES, send_alert
from torchtrader.alerts.receiver import WebhookReceiver
from torchtrader.bots.secrets import register_secret


@pytest.fixture
def hook() -> WebhookReceiver:
    with WebhookReceiver() as receiver:
        yield receiver  # type: ignore[misc]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("kind", "apprise_type"),
    [
        ("fill", "success"),
        ("order_rejected", "warning"),
        ("ambiguous", "warning"),
        ("discrepancy", "warning"),
        ("drawdown", "warning"),
        ("daily_pnl", "warning"),
        ("strategy_change", "info"),
        ("model_change", "info"),
        ("halt", "failure"),
        ("error", "failure"),
        ("something-new", "info"),
    ],
)
def test_payload_carries_title_body_and_type(hook: WebhookReceiver, kind: str, apprise_type: str) -> None:
    assert send_alert([hook.url], title="bot1: fill", body="bought 0.5 BTC/USDT", kind=kind)
    (payload,) = hook.payloads
    assert payload["title"] == "bot1: fill"
    assert payload["message"] == "bought 0.5 BTC/USDT"
    assert payload["type"] == apprise_type
    assert hook.paths == ["/hook"]


def test_every_kind_has_a_type() -> None:
    from torchtrader.alerts import EVENT_KINDS

    assert EVENT_KINDS | {"drawdown", "daily_pnl"} == set(NOTIFY_TYPES)


def test_every_url_gets_the_alert() -> None:
    with WebhookReceiver() as first, WebhookReceiver() as second:
        assert send_alert([first.url, second.url], title="t", body="b", kind="halt")
        assert [p["title"] for p in first.payloads] == ["t"]
        assert [p["title"] for p in second.payloads] == ["t"]


def test_no_urls_sends_nothing_and_fails_nothing() -> None:
    assert send_alert([], title="t", body="b", kind="fill") is True


def test_failing_webhook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver(status=500) as broken, caplog.at_level(logging.WARNING):
        assert send_alert([broken.url], title="t", body="b", kind="error") is False
        assert len(broken.payloads) == 1  # it was tried once, not retried in a loop
    assert any("was not delivered" in r.getMessage() for r in caplog.records)


def test_unreachable_and_unparseable_urls_do_not_stop_the_others(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    urls = [f"json://127.0.0.1:{_closed_port()}/x", "nonsense-scheme://what", hook.url]
    with caplog.at_level(logging.WARNING):
        assert send_alert(urls, title="t", body="b", kind="fill") is False
    assert [p["title"] for p in hook.payloads] == ["t"]
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("torchtrader")]
    assert any("not a URL apprise understands" in m for m in messages)
    assert any("was not delivered" in m for m in messages)


def test_url_credentials_stay_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    url = f"json://alice:hook-password-5521@127.0.0.1:{_closed_port()}/x"
    with caplog.at_level(logging.DEBUG):
        assert send_alert([url], title="t", body="b", kind="fill") is False
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("torchtrader")]
    assert ours and all("hook-password-5521" not in m for m in ours)


def test_registered_secrets_are_masked_in_title_and_body(hook: WebhookReceiver) -> None:
    secret = "alerts-test-secret-9f83c1"
    register_secret(secret)
    assert send_alert(
        [hook.url], title=f"key {secret}", body=f"request failed with apiKey={secret}&x=1", kind="error"
    )
    (payload,) = hook.payloads
    assert payload["title"] == "key ***"
    assert payload["message"] == "request failed with apiKey=***&x=1"
