"""The Ray Tune trainable: one trial evaluates a whole batch of combinations with the batched engine.

The bars, the fill config and (for grid and random searches) every batch travel once to Ray's object
store (``tune.with_parameters``); a trial names its batch by index, or carries it in its config when a
Bayesian sampler proposed it. Each worker process keeps the bars it fetched, so with actors reused the
indicator memo (``Bars.memo``) serves trial after trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import Metrics
from torchtrader.strategies import Bars

# Per worker process: the bars of the tune now running (keyed by the tune's id), memo included.
_BARS: dict[str, Bars] = {}


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one tune shares (put in the object store once)."""

    key: str
    strategy: str
    strategies_dir: str | None
    bars: Bars
    config: BacktestConfig
    trade_from: int
    batches: tuple[tuple[dict[str, Any], ...], ...] = ()


def evaluate_batch(config: Mapping[str, Any], context: TrialContext) -> None:
    """Tune function trainable: evaluate the trial's batch, report every combo's metrics once."""
    from ray import tune

    started = time.time()
    combos = context.batches[int(config["chunk"])] if "chunk" in config else tuple(config["batch"])
    columns = evaluate(context, combos)
    tune.report(
        {
            "n_evaluations": len(combos),
            "started_s": started,
            "finished_s": time.time(),
            "columns": columns,
        }
    )


def evaluate(context: TrialContext, combos: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Metrics of each combo (None for a combo the strategy's rules refuse), in the given order."""
    import pydantic

    from torchtrader.backtest.engine import run_sweep
    from torchtrader.strategies import load_strategy

    cls = load_strategy(context.strategy, context.strategies_dir)
    bars = _BARS.get(context.key)
    if bars is None:
        _BARS.clear()
        bars = _BARS[context.key] = context.bars
    valid_rows: list[int] = []
    params = []
    for row, combo in enumerate(combos):
        try:
            params.append(cls.Params(**combo))
        except pydantic.ValidationError:
            continue
        valid_rows.append(row)
    names = Metrics.names()
    columns: dict[str, list[Any]] = {name: [None] * len(combos) for name in names}
    if not params:
        return columns
    result = run_sweep(cls(), bars, params, context.config, top_k=0, trade_from=context.trade_from)
    for name in names:
        values = result.metrics[name].to_list()
        for row, value in zip(valid_rows, values, strict=True):
            columns[name][row] = _plain(value)
    return columns


def _plain(value: Any) -> Any:
    # NaN survives Tune's result plumbing as a float; infinities too. Ints stay ints.
    if isinstance(value, float) and math.isnan(value):
        return float("nan")
    return value
