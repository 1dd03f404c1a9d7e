"""get_source: one factory for every source, with clear errors for unknown names and options."""

from __future__ import annotations

import pytest

from torchtrader.errors import ConfigError, SourceError
from torchtrader.sources import SOURCE_NAMES, Source, get_source

OPTIONS = {"csv": {"path": "bars.csv"}, "alphavantage": {"key": "k"}, "binance-dump": {"paths": ["d"]}}


def test_the_seven_sources_are_registered() -> None:
    assert SOURCE_NAMES == ("yfinance", "alphavantage", "ccxt", "csv", "binance-dump", "sample", "synthetic")


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_each_name_builds_its_source(name: str) -> None:
    source = get_source(name, **OPTIONS.get(name, {}))
    assert isinstance(source, Source)
    assert source.name == name


def test_unknown_source_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown source 'yahoo'; known sources: yfinance, alphavantage, ccxt"
    ):
        get_source("yahoo")


def test_unknown_option_names_it_and_the_accepted_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"source 'synthetic' has no option\(s\) sede; its options: seed, symbols"
    ):
        get_source("synthetic", sede=3)
    with pytest.raises(ConfigError, match="source 'sample' has no option"):
        get_source("sample", symbol="SPX")


def test_options_reach_the_source() -> None:
    assert get_source("synthetic", seed=9, symbols=["SOL/USDT"]).symbols() == ["SOL/USDT"]


def test_sources_that_cannot_list_symbols_say_so() -> None:
    with pytest.raises(SourceError, match="cannot list its symbols"):
        get_source("yfinance").symbols()
