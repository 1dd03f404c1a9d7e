"""Deliver one alert to apprise URLs (Slack, Telegram, e-mail, ``json://`` webhooks, ...).

An alert must never stop a bot: a URL apprise cannot parse, a refused connection or a slow webhook
is logged and reported as ``False``, never raised. Registered secrets (API keys) are masked in the
title and body, and URLs are logged in apprise's privacy form (tokens elided).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from torchtrader.bots.secrets import redact

logger = logging.getLogger(__name__)

# Alert kind -> apprise notify type (the colour/icon a service shows; ``type`` in a JSON payload).
NOTIFY_TYPES: Final[dict[str, str]] = {
    "fill": "success",
    "order_rejected": "warning",
    "ambiguous": "warning",
    "discrepancy": "warning",
    "drawdown": "warning",
    "daily_pnl": "warning",
    "strategy_change": "info",
    "model_change": "info",
    "halt": "failure",
    "error": "failure",
}

DEFAULT_TIMEOUT_S: Final = 10.0


def send_alert(
    urls: Sequence[str], *, title: str, body: str, kind: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> bool:
    """Send ``title``/``body`` to every URL; True when every URL took it (no URLs: True).

    ``kind`` picks the apprise notify type (see ``NOTIFY_TYPES``; unknown kinds are "info").
    ``timeout_s`` bounds the whole call so a hung webhook cannot stall a bot cycle.
    """
    if not urls:
        return True
    notify_type = NOTIFY_TYPES.get(kind, "info")
    title, body = redact(title), redact(body)
    delivered = True
    for url in urls:
        try:
            ok = _send_one(url, title=title, body=body, notify_type=notify_type, timeout_s=timeout_s)
        except Exception as error:  # a plugin bug must not become a bot failure
            logger.warning("alert %r (%s) to %s failed: %s", title, kind, _private(url), redact(str(error)))
            ok = False
        delivered = delivered and ok
    return delivered


def _send_one(url: str, *, title: str, body: str, notify_type: str, timeout_s: float) -> bool:
    import apprise

    asset = apprise.AppriseAsset(app_id="Torch Trader", app_desc="Torch Trader bots")
    notifier = apprise.Apprise(asset=asset)
    if not notifier.add(url):
        logger.warning("alert URL %s is not a URL apprise understands: fix it", _private(url))
        return False
    result = notifier.notify(body=body, title=title, notify_type=notify_type, timeout=timeout_s)
    if not result:
        logger.warning("alert %r to %s was not delivered", title, _private(url))
        return False
    logger.debug("alert %r delivered to %s", title, _private(url))
    return True


def _private(url: str) -> str:
    """``url`` as apprise prints it with privacy on (tokens and passwords elided)."""
    try:
        import apprise

        plugin = apprise.Apprise.instantiate(url)
        if plugin is not None:
            return str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    except Exception:  # an unparseable URL: show only its scheme
        pass
    return url.split("://", 1)[0] + "://..."
