"""ccxt-style timeframe strings (``1m``, ``5m``, ``1h``, ``4h``, ``1d``, ``1w``) and their durations."""

from __future__ import annotations

import re
from datetime import timedelta

from torchtrader.errors import ConfigError

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^(\d+)([smhdw])$")


def timeframe_seconds(timeframe: str) -> int:
    """Length of one bar in seconds; raises ConfigError for anything that is not ccxt-style."""
    match = _PATTERN.match(timeframe)
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(f"invalid timeframe {timeframe!r}: use ccxt style such as 1m, 15m, 1h, 4h, 1d, 1w")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def timeframe_delta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_seconds(timeframe))


def bars_per_year(timeframe: str) -> float:
    """Annualisation factor: 252 trading days for daily-or-longer stock bars, 24/7 for intraday."""
    seconds = timeframe_seconds(timeframe)
    if seconds >= 86400:
        return 252.0 * 86400 / seconds
    return 365.0 * 86400 / seconds
