"""Ray Tune searches (grid, random, Bayesian) where each trial backtests a whole batch of combinations.

A grid is cut into chunks (in the engine's serpentine order, so a chunk shares indicator rows); random
search draws ``samples`` distinct valid combinations from a seeded generator up front and cuts them the
same way; Bayesian search asks Optuna's TPE for batches in synchronous rounds (``_bayes``). Thousands of
evaluations thus cost tens of trials. The bars are read once (one pinned lake version, warm-up bars
before ``start`` included) and reach every trial through Ray's object store.

Tracked in MLflow (``tracking_uri``): the tune is a parent run with lineage tags, each Tune trial a
nested run, the table of every evaluation a Parquet artifact, the best's tearsheet an HTML artifact,
the spec a JSON artifact ``runs reproduce`` re-runs from. Inputs are all checked before a run exists;
anything failing afterwards ends the run FAILED with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from torchtrader.backtest import runner
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import Metrics
from torchtrader.errors import BacktestError, ConfigError
from torchtrader.lake import Lake
from torchtrader.optimize._report import TuneResult, TuneSpec
from torchtrader.optimize.objectives import (
    Objective,
    make_objective,
    rank_by_objective,
    score,
    with_objective,
)
from torchtrader.optimize.space import SearchKind, SearchSpace, combo_key, parse_space
from torchtrader.strategies import Strategy, StrategyParams, grid_report, load_strategy
from torchtrader.timeframes import bars_per_year

__all__ = ["TuneResult", "TuneSpec", "run_tune"]

logger = logging.getLogger(__name__)

DEFAULT_SAMPLES = 200
_RANDOM_ATTEMPTS = 50  # draws per wanted sample before a small space counts as exhausted
_PROBES = 256  # random draws whose warm-up bounds a Bayesian search's warm-up


def run_tune(
    lake: Lake,
    series: runner.SeriesRef,
    strategy: str,
    space: SearchSpace | Sequence[str] = (),
    *,
    search: SearchKind = "grid",
    samples: int | None = None,
    objective: str | Objective = "sharpe",
    min_trades: int = 0,
    config: BacktestConfig | None = None,
    seed: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
    ray_address: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    strategies_dir: str | None = None,
    parent_run_id: str | None = None,
    version: int | None = None,
    batch_size: int | None = None,
    round_trials: int | None = None,
    warmup: int | None = None,
) -> TuneResult:
    """Search ``space`` (specs or a parsed SearchSpace; empty = the strategy's Search annotations)."""
    began = time.perf_counter()
    cls = load_strategy(strategy, strategies_dir)
    if not isinstance(space, SearchSpace):
        space = parse_space(list(space), cls, search=search)
    elif space.search != search:
        space = dataclasses.replace(space, search=search)
    goal = objective if isinstance(objective, Objective) else make_objective(objective, min_trades=min_trades)
    if isinstance(objective, Objective) and min_trades:
        goal = goal.model_copy(update={"min_trades": min_trades})
    config = config or BacktestConfig()
    if search != "grid":
        if samples is None:
            samples = DEFAULT_SAMPLES
        if samples < 1:
            raise ConfigError(f"--samples must be >= 1 for a {search} search, got {samples}")
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    instance = cls()
    combos = _plan(space, cls, search, samples, seed)
    start, end = runner.utc_or_none(start), runner.utc_or_none(end)
    if warmup is None:
        probes = combos or _draw(space, cls, _PROBES, seed)
        warmup = runner.strategy_warmup(instance, probes) if start is not None else 0
    bars, pinned = runner.load_bars(lake, series, version=version, start=start, end=end, warmup=warmup)
    trade_from = runner.trade_start(bars, start)
    if tracking_uri is not None:
        from torchtrader.tracking import check_tracking_uri

        check_tracking_uri(tracking_uri)

    from torchtrader.optimize._ray import concurrency, ray_session, trial_resources

    with ray_session(ray_address):
        resources = trial_resources(config.device)
        width = concurrency(resources)
        n_wanted = len(combos) if combos else int(samples or 0)
        size = batch_size or _auto_batch(search, n_wanted, width)
        rounds = round_trials or width
        spec = TuneSpec(
            symbol=series.symbol,
            timeframe=series.timeframe,
            source=series.source,
            strategy=strategy,
            space=space.specs() if search != "grid" else _grid_specs(space),
            search=search,
            samples=samples,
            objective=goal,
            config=config,
            seed=seed,
            start=start,
            end=end,
            lake_version=pinned,
            warmup=warmup,
            batch_size=size,
            round_trials=rounds,
            strategies_dir=strategies_dir,
        )
        with _parent_run(tracking_uri, experiment, spec, parent_run_id) as parent:
            from torchtrader.optimize._search import search_batches

            n_bars = len(bars) - trade_from
            ppy = bars_per_year(series.timeframe)
            frame, n_trials = search_batches(
                spec, cls, space, bars, combos, resources, trade_from, ppy, n_bars, parent
            )
            result = _finish(spec, instance, bars, trade_from, frame, n_trials, ppy, began, parent)
            if parent is not None:
                from torchtrader.optimize._search import log_outcome

                log_outcome(parent, lake, result, bars, trade_from)
            return result


def _plan(
    space: SearchSpace, cls: type[Strategy], search: SearchKind, samples: int | None, seed: int
) -> list[StrategyParams]:
    """The combinations a grid or random search evaluates (a Bayesian search proposes its own)."""
    if search == "grid":
        report = grid_report(cls, space.grid_ranges())
        return report.params
    if search == "random":
        drawn = _draw(space, cls, int(samples or 0), seed)
        if not drawn:
            raise ConfigError(f"the --space of {space.strategy} holds no valid combination")
        return drawn
    return []


def _draw(space: SearchSpace, cls: type[Strategy], wanted: int, seed: int) -> list[StrategyParams]:
    """``wanted`` distinct valid combinations from a seeded generator (fewer if the space is small)."""
    import pydantic

    rng = np.random.default_rng(seed)
    seen: set[tuple[Any, ...]] = set()
    drawn: list[StrategyParams] = []
    for _ in range(max(wanted, 1) * _RANDOM_ATTEMPTS):
        if len(drawn) >= wanted:
            break
        combo = {dim.name: dim.draw(rng) for dim in space.dimensions}
        key = combo_key(combo)
        if key in seen:
            continue
        seen.add(key)
        try:
            drawn.append(cls.Params(**combo))
        except pydantic.ValidationError:
            continue
    if len(drawn) < wanted:
        logger.info("the space yielded %d distinct valid combinations of %d wanted", len(drawn), wanted)
    return drawn


def _auto_batch(search: SearchKind, n: int, width: int) -> int:
    """Combinations per trial: few, large batches for grid and random (a trial costs ~1 s of Tune
    overhead, a batch shares indicator work); for TPE small batches, so it learns from many rounds
    (about sixteen rounds of ``width`` trials, batches of at least two)."""
    if search == "bayes":
        return max(2, min(256, math.ceil(n / (16 * width))))
    trials = width * max(1, math.ceil(math.ceil(n / 2500) / width))
    return max(1, math.ceil(n / trials))


def _grid_specs(space: SearchSpace) -> list[str]:
    return [f"{d.name}={','.join(str(v) for v in d.grid_values())}" for d in space.dimensions]


@contextlib.contextmanager
def _parent_run(
    tracking_uri: str | None, experiment: str | None, spec: TuneSpec, parent_run_id: str | None
) -> Iterator[Any]:
    if tracking_uri is None:
        yield None
        return
    from torchtrader.optimize._report import SPEC_ARTIFACT
    from torchtrader.tracking import lineage_tags, strategy_file, tracked_run

    tags = lineage_tags(
        lake_version=spec.lake_version,
        strategy=spec.strategy,
        strategies_dir=spec.strategies_dir,
        seed=spec.seed,
        search=spec.search,
        start=spec.start,
        end=spec.end,
    )
    tags.update({"kind": "tune", "symbol": spec.symbol, "timeframe": spec.timeframe})
    params = {
        "symbol": spec.symbol,
        "timeframe": spec.timeframe,
        "strategy": spec.strategy,
        "search": spec.search,
        "samples": spec.samples,
        "objective": spec.objective.metric,
        "min_trades": spec.objective.min_trades,
        "seed": spec.seed,
        "batch_size": spec.batch_size,
        "fee": spec.config.fee,
        "slippage_bps": spec.config.slippage_bps,
        "space": " ".join(spec.space)[:5000],
    }
    name = f"tune-{spec.strategy}-{spec.symbol}-{spec.search}"
    experiment = experiment or f"tune-{spec.strategy}"
    with tracked_run(
        tracking_uri, experiment, run_name=name, tags=tags, params=params, parent_run_id=parent_run_id
    ) as run:
        run.log_text(spec.model_dump_json(indent=2), SPEC_ARTIFACT)
        file = strategy_file(spec.strategy, spec.strategies_dir)
        if file is not None:
            run.log_artifact(file, "strategy")
        yield run


def _finish(
    spec: TuneSpec,
    instance: Strategy,
    bars: Any,
    trade_from: int,
    frame: pl.DataFrame,
    n_trials: int,
    ppy: float,
    began: float,
    parent: Any,
) -> TuneResult:
    """Rank, re-run the best in full, deflate its Sharpe by every evaluated combination's."""
    from torchtrader.backtest.engine import run_backtest
    from torchtrader.optimize.overfit import deflated_sharpe

    scored = score(frame, spec.objective, bars_per_year=ppy, n_bars=len(bars) - trade_from)
    frame = with_objective(frame, scored)
    ranked = rank_by_objective(frame)
    if ranked.is_empty() or ranked["objective"][0] is None:
        floor = f" with at least {spec.objective.min_trades} trades" if spec.objective.min_trades else ""
        raise BacktestError(
            f"no evaluated combination of {spec.strategy} has a defined {spec.objective.metric}{floor} "
            f"({frame.height} evaluated): widen --space, lower --min-trades or change --start/--end"
        )
    cls = type(instance)
    names = [c for c in frame.columns if c not in {"combo", "trial", "objective", *Metrics.names()}]
    best_row = ranked.row(0, named=True)
    best_params = cls.Params(**{k: best_row[k] for k in names})
    best = run_backtest(
        instance, bars, best_params, spec.config, lake_version=spec.lake_version, trade_from=trade_from
    )
    best = dataclasses.replace(best, start=spec.start, end=spec.end)
    equity = best.equity["equity"].to_numpy()
    returns = equity[1:] / equity[:-1] - 1
    dsr = deflated_sharpe(returns, frame["sharpe"].cast(pl.Float64).to_numpy(), periods_per_year=ppy)
    return TuneResult(
        run_id=None if parent is None else parent.run_id,
        experiment=None if parent is None else parent.experiment_name,
        spec=spec,
        n_evaluations=frame.height,
        n_trials=n_trials,
        elapsed_s=time.perf_counter() - began,
        frame=frame,
        best=best,
        deflated_sharpe=dsr,
    )


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """An absolute temporary folder (Tune chdirs into trial folders: relative paths would move)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def tune_run_name() -> str:
    return f"tune-{uuid.uuid4().hex[:10]}"


def disable_tune_file_loggers() -> None:
    """Tune's per-trial CSV/JSON/TensorBoard files would duplicate MLflow (and carry each batch)."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
