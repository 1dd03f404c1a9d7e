"""Fixtures for the strategy tests: hand-made bars, the real S&P 500 sample, a user strategies folder."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from torchtrader.strategies import Bars

DAY_NS = 86_400 * 10**9
# 2024-01-01, a Monday: hand-made daily bars start here so week boundaries are easy to work out.
MONDAY_2024_NS = 1_704_067_200 * 10**9


def make_bars(
    close: Sequence[float],
    *,
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    ts: Sequence[int] | None = None,
) -> Bars:
    """Daily bars from hand-written closes (open = previous close, high/low default to the close)."""
    c = torch.tensor(close, dtype=torch.float64)
    o = torch.cat([c[:1], c[:-1]])
    h = torch.tensor(high, dtype=torch.float64) if high is not None else c.clone()
    lo = torch.tensor(low, dtype=torch.float64) if low is not None else c.clone()
    stamps = np.asarray(ts, dtype=np.int64) if ts is not None else MONDAY_2024_NS + DAY_NS * np.arange(len(c))
    return Bars(open=o, high=h, low=lo, close=c, volume=torch.ones_like(c), ts=stamps, symbol="TEST")


@pytest.fixture
def bars_from() -> Callable[..., Bars]:
    return make_bars


@pytest.fixture(scope="session")
def spx() -> Bars:
    """Real daily S&P 500 bars 1999–2018 (5031 rows) from the arch package."""
    from torchtrader.testing.market import sample_bars

    return sample_bars("SPX")


@pytest.fixture(scope="session")
def spx_short(spx: Bars) -> Bars:
    """The first 800 bars of the sample: enough for every built-in's warm-up, cheap to run often."""
    return spx.slice(800)


@pytest.fixture
def strategies_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def ref() -> ModuleType:
    """The independent TA-Lib + Python-loop reference rules (strategy_reference.py beside this file)."""
    path = Path(__file__).with_name("strategy_reference.py")
    spec = importlib.util.spec_from_file_location("torchtrader_tests_strategy_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cli(run_cli: Callable[..., Any], lake_uri: str) -> Callable[..., Any]:
    """The real console entry point in-process (same error handling), against a temp lake."""
    return functools.partial(run_cli, lake_uri)


@pytest.fixture(scope="session")
def spx_frame() -> Any:
    """The S&P 500 sample as a canonical bars frame (source "sample", symbol "SPX", 1d)."""
    from torchtrader.testing.market import sample_frame

    return sample_frame("SPX")


@pytest.fixture
def spx_lake(lake_uri: str, spx_frame: Any) -> str:
    """A temp lake holding the S&P 500 sample bars."""
    from torchtrader.lake import Lake

    Lake(lake_uri).upsert_bars(spx_frame)
    return lake_uri
