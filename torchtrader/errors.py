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
