"""Strategies: the contract, the built-ins, user strategy files, parameters and the lookahead check.

Engines, sweeps, bots and the CLI use this module's names only::

    cls = load_strategy("sma_cross", settings.strategies)
    params = parse_params(cls, ["fast=10", "slow=30"])
    positions = run_positions(cls(), bars, ParamBatch.from_params([params]))   # [1, len(bars)]

Names are loaded on first use (PEP 562 ``__getattr__``): finding and describing strategies imports no
torch, so ``torchtrader strategy list`` starts fast; the tensor half loads when it is first asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the static view of the lazy names below
    from torchtrader.strategies.base import Bars as Bars
    from torchtrader.strategies.base import ParamBatch as ParamBatch
    from torchtrader.strategies.contract import Search as Search
    from torchtrader.strategies.contract import Strategy as Strategy
    from torchtrader.strategies.contract import StrategyParams as StrategyParams
    from torchtrader.strategies.fence import run_positions as run_positions
    from torchtrader.strategies.loader import builtin_strategies as builtin_strategies
    from torchtrader.strategies.loader import discover_strategies as discover_strategies
    from torchtrader.strategies.loader import load_file as load_file
    from torchtrader.strategies.loader import load_strategy as load_strategy
    from torchtrader.strategies.lookahead import LookaheadReport as LookaheadReport
    from torchtrader.strategies.lookahead import check_lookahead as check_lookahead
    from torchtrader.strategies.params import Grid as Grid
    from torchtrader.strategies.params import format_params as format_params
    from torchtrader.strategies.params import grid as grid
    from torchtrader.strategies.params import grid_report as grid_report
    from torchtrader.strategies.params import parse_params as parse_params

_HOMES = {
    "Bars": "base",
    "ParamBatch": "base",
    "Search": "contract",
    "Strategy": "contract",
    "StrategyParams": "contract",
    "run_positions": "fence",
    "builtin_strategies": "loader",
    "discover_strategies": "loader",
    "load_file": "loader",
    "load_strategy": "loader",
    "LookaheadReport": "lookahead",
    "check_lookahead": "lookahead",
    "Grid": "params",
    "format_params": "params",
    "grid": "params",
    "grid_report": "params",
    "parse_params": "params",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
