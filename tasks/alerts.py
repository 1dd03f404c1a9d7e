"""Alert task: one ``send_alert`` call (apprise) for the watchdog and the flow failure hooks."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.alerts import send_alert


@task(name="send-alert", cache_policy=NO_CACHE)
def send_alert_task(urls: Sequence[str], title: str, body: str, kind: str = "error") -> bool:
    """Delivery failures are logged by ``send_alert`` and come back as False, never raised."""
    return send_alert(urls, title=title, body=body, kind=kind)
