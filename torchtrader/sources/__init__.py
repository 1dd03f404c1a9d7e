"""Market data sources behind one contract (``Source.fetch``) and one factory (``get_source``).

    from torchtrader.sources import get_source
    bars = get_source("sample").fetch("SPX", "1d")

Adapters are imported on demand: yfinance, ccxt and alpha_vantage are heavy, and a user who only reads
CSVs should not pay for them.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torchtrader.errors import ConfigError
from torchtrader.sources.base import Source
from torchtrader.sources.csv_source import CsvRead, read_csv_bars

_REGISTRY: dict[str, tuple[str, str]] = {
    "yfinance": ("torchtrader.sources.yfinance_source", "YFinanceSource"),
    "alphavantage": ("torchtrader.sources.alphavantage_source", "AlphaVantageSource"),
    "ccxt": ("torchtrader.sources.ccxt_source", "CcxtSource"),
    "csv": ("torchtrader.sources.csv_source", "CsvSource"),
    "binance-dump": ("torchtrader.sources.binance_dump", "BinanceDumpSource"),
    "sample": ("torchtrader.sources.sample", "SampleSource"),
    "synthetic": ("torchtrader.sources.synthetic", "SyntheticSource"),
}
SOURCE_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def source_class(name: str) -> type[Source]:
    """The Source class registered under ``name``; ConfigError listing the known names otherwise."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown source {name!r}; known sources: {', '.join(SOURCE_NAMES)}")
    module_name, class_name = _REGISTRY[name]
    cls: type[Source] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_source(name: str, **options: Any) -> Source:
    """A configured source: ``get_source("ccxt", exchange="kraken")``, ``get_source("csv", path=...)``.

    Options a source does not know raise ConfigError naming them.
    """
    cls = source_class(name)
    accepted = [
        parameter.name
        for parameter in inspect.signature(cls).parameters.values()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        offered = ", ".join(accepted) or "none"
        raise ConfigError(f"source {name!r} has no option(s) {', '.join(unknown)}; its options: {offered}")
    return cls(**options)


__all__ = ["SOURCE_NAMES", "CsvRead", "Source", "get_source", "read_csv_bars", "source_class"]
