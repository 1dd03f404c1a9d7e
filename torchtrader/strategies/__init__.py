"""Strategies: the contract, the built-ins, user strategy files, parameters and the lookahead check.

Engines, sweeps, bots and the CLI use this module's names only::

    cls = load_strategy("sma_cross", settings.strategies)
    params = parse_params(cls, ["fast=10", "slow=30"])
    positions = run_positions(cls(), bars, ParamBatch.from_params([params]))   # [1, len(bars)]
"""

from __future__ import annotations

from torchtrader.strategies.base import Bars, ParamBatch, Search, Strategy, StrategyParams
from torchtrader.strategies.fence import run_positions
from torchtrader.strategies.loader import builtin_strategies, discover_strategies, load_file, load_strategy
from torchtrader.strategies.lookahead import LookaheadReport, check_lookahead
from torchtrader.strategies.params import Grid, format_params, grid, grid_report, parse_params

__all__ = [
    "Bars",
    "Grid",
    "LookaheadReport",
    "ParamBatch",
    "Search",
    "Strategy",
    "StrategyParams",
    "builtin_strategies",
    "check_lookahead",
    "discover_strategies",
    "format_params",
    "grid",
    "grid_report",
    "load_file",
    "load_strategy",
    "parse_params",
    "run_positions",
]
