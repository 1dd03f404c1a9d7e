"""One exception root for everything Torch Trader raises on purpose.

Messages are written for the person at the terminal: say what was wrong, where, and what to do.
The CLI prints ``str(error)`` on one line and exits non-zero, so keep messages single-line.
"""

from __future__ import annotations


class TorchTraderError(Exception):
    """Root of every deliberate Torch Trader error."""


class ConfigError(TorchTraderError):
    """Settings or arguments that cannot work (bad URI, unknown option value)."""


class DataError(TorchTraderError):
    """Market data that is malformed, inconsistent or missing."""


class ValidationError(DataError):
    """Data that failed the bars expectation suite."""


class LakeError(TorchTraderError):
    """The lake cannot be read or written (missing table, bad version, storage failure)."""


class SourceError(TorchTraderError):
    """A data source failed permanently (bad symbol, bad credentials, garbage response)."""


class SourceUnavailableError(SourceError):
    """A transient source failure (timeout, rate limit, 5xx) that is worth retrying."""


class StrategyError(TorchTraderError):
    """A strategy that cannot be loaded, parametrised or run."""


class BacktestError(TorchTraderError):
    """A backtest that cannot run with the given inputs."""


class ExchangeError(TorchTraderError):
    """An exchange or broker refused or failed an operation."""


class OrderRejectedError(ExchangeError):
    """The venue refused an order for good (bad size, below minimum, unknown symbol): never resend it."""


class InsufficientFundsError(OrderRejectedError):
    """The account cannot pay for the order (cost plus fees above the free balance)."""


class AmbiguousOrderError(ExchangeError):
    """The order may or may not have reached the venue (timeout after sending): look it up by its
    client order id, never send it again."""


class VenueUnavailableError(ExchangeError):
    """A transient venue failure (timeout before sending, rate limit, 5xx) that is safe to retry."""


class BotError(TorchTraderError):
    """A bot that cannot run: bad config, halted, corrupt or newer-schema state store."""
