"""Walk-forward optimisation: search on each train span, score the choice on the following test span.

Per window (``optimize.windows``): the search sees ``[train_start, train_end)`` only (plus warm-up
bars before it), so nothing after ``train_end`` can influence the chosen parameters; the choice is
then backtested flat-start on ``[test_start, test_end)`` with the bars before it as warm-up
(``runner.backtest`` with start/end). ``search="grid"`` sweeps the grid with the batched engine
(``runner.sweep``) and takes the best eligible combination by the objective (``optimize.objectives``:
fewer than ``min_trades`` trades or an undefined metric never wins); ``random``/``bayes`` go through
Ray Tune (``optimize.tune.run_tune``) on the train span. Results: per-window in/out-of-sample
metrics, the stitched out-of-sample equity and its metrics, an in-sample summary and PBO over the
candidates (``optimize.walkforward_stats``).

Tracking: with a tracking URI the walk-forward is one MLflow parent run (lineage tags, settings as
params, OOS metrics, the windows table and stitched equity as Parquet artifacts, the JSON document);
each window is a nested run. Bad input (strategy, grid, durations, a train window longer than the
data) is refused before any run is opened.

Default grid (no ``grid`` given): every parameter with a ``Search`` range gets ``DEFAULT_GRID_POINTS``
evenly spaced values (log-spaced with ``log``; integers rounded, duplicates dropped): a walk-forward
repeats the search per window, so its default is coarser than a tune's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from torchtrader.backtest.results import Metrics
from torchtrader.errors import ConfigError
from torchtrader.optimize.walkforward_report import (
    WalkForwardResult,
    WindowResult,
    child_run,
    log_parent,
    parent_run,
    prefixed,
    run_id_of,
)
from torchtrader.optimize.windows import Window, make_windows, parse_duration

if TYPE_CHECKING:
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.runner import SeriesRef
    from torchtrader.lake import Lake

logger = logging.getLogger(__name__)

SEARCHES = ("grid", "random", "bayes")
DEFAULT_GRID_POINTS = 8


def default_grid(strategy_cls: Any, points: int = DEFAULT_GRID_POINTS) -> dict[str, list[Any]]:
    """``points`` values per Search range (see the module docstring)."""
    ranges: dict[str, list[Any]] = {}
    fields = strategy_cls.Params.model_fields
    for name, search in strategy_cls.Params.search_space().items():
        if search.log and search.low > 0:
            values = np.geomspace(search.low, search.high, points)
        else:
            values = np.linspace(search.low, search.high, points)
        if fields[name].annotation is int:
            ranges[name] = sorted({round(float(v)) for v in values})
        else:
            ranges[name] = [float(v) for v in values]
    if not ranges:
        raise ConfigError(f"{strategy_cls.name} declares no Search ranges: give --grid name=start:stop:step")
    return ranges


def walk_forward(
    lake: Lake,
    series: SeriesRef,
    strategy: str,
    *,
    train: str,
    test: str,
    step: str | None = None,
    anchored: bool = False,
    search: str = "grid",
    grid: Sequence[str] = (),
    samples: int = 64,
    objective: str = "sharpe",
    min_trades: int = 0,
    config: BacktestConfig | None = None,
    seed: int = 0,
    strategies_dir: str | None = None,
    version: int | None = None,
    tracking_uri: str | None = None,
    experiment: str = "walkforward",
    ray_address: str | None = None,
) -> WalkForwardResult:
    """Walk ``strategy`` forward over ``series`` (see the module docstring)."""
    from torchtrader.backtest import runner
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.optimize.objectives import make_objective
    from torchtrader.strategies import load_strategy
    from torchtrader.timeframes import timeframe_delta

    if search not in SEARCHES:
        raise ConfigError(f"unknown --search {search!r}: use one of {', '.join(SEARCHES)}")
    goal = make_objective(objective, min_trades=min_trades)
    config = config or BacktestConfig()
    cls = load_strategy(strategy, strategies_dir)
    space: Any = None
    ranges: dict[str, list[Any]] = {}
    candidates: list[Any] = []
    if search == "grid":
        ranges = runner.parse_grid(grid) if grid else default_grid(cls)
        candidates = runner.grid_params(cls, ranges)
        if not candidates:
            raise ConfigError(f"the grid {ranges} holds no valid {cls.name} combination")
    else:
        from torchtrader.optimize.space import parse_space

        space = parse_space(list(grid), cls, search=search)  # type: ignore[arg-type]
    evaluated: list[dict[str, Any]] = []
    durations = (parse_duration(train, "--train"), parse_duration(test, "--test"))
    stride = parse_duration(step, "--step") if step is not None else None
    bars, pinned = runner.load_bars(lake, series, version=version)
    data_end = _time(int(bars.ts[-1])) + timeframe_delta(series.timeframe)
    windows = make_windows(
        _time(int(bars.ts[0])),
        data_end,
        train=durations[0],
        test=durations[1],
        step=stride,
        anchored=anchored,
    )
    windows = _with_bars(windows, bars.ts)
    if tracking_uri is not None:
        from torchtrader.tracking import check_tracking_uri

        check_tracking_uri(tracking_uri)

    settings = {
        "symbol": series.symbol,
        "timeframe": series.timeframe,
        "train": train,
        "test": test,
        "step": step or test,
        "anchored": anchored,
        "search": search,
        "objective": objective,
        "min_trades": min_trades,
        "grid": {k: list(v) for k, v in ranges.items()} if ranges else list(grid),
        "config": config.model_dump(mode="json"),
    }
    with parent_run(
        tracking_uri, experiment, cls.name, pinned, strategies_dir, seed, search, windows
    ) as parent:
        if parent is not None:
            parent.log_params(settings)
        done: list[WindowResult] = []
        tests = []
        for window in windows:
            with child_run(tracking_uri, experiment, parent, window) as child:
                params, in_sample = _choose(
                    lake, series, cls.name, ranges, goal, config, window,
                    search=search, samples=samples, seed=seed, strategies_dir=strategies_dir,
                    version=pinned, tracking_uri=tracking_uri, experiment=experiment,
                    ray_address=ray_address, parent_run_id=run_id_of(child), space=space,
                    evaluated=evaluated,
                )  # fmt: skip
                scored = runner.backtest(
                    lake, series, cls.name, params, config, strategies_dir=strategies_dir,
                    version=pinned, start=window.test_start, end=window.test_end,
                )  # fmt: skip
                tests.append(scored)
                done.append(WindowResult(window, scored.params, in_sample, scored.metrics, run_id_of(child)))
                if child is not None:
                    child.log_params(scored.params)
                    child.log_metrics(prefixed(in_sample, "is_") | prefixed(scored.metrics, "oos_"))
        result = _summarise(
            lake, series, cls, candidates, evaluated, done, tests, config, goal.metric, search, pinned, seed
        )
        if parent is not None:
            result = log_parent(parent, result)
    return result


def _choose(
    lake: Lake,
    series: SeriesRef,
    strategy: str,
    ranges: Mapping[str, Sequence[Any]],
    goal: Any,
    config: BacktestConfig,
    window: Window,
    *,
    search: str,
    samples: int,
    seed: int,
    strategies_dir: str | None,
    version: int | None,
    tracking_uri: str | None,
    experiment: str,
    ray_address: str | None,
    parent_run_id: str | None,
    space: Any,
    evaluated: list[dict[str, Any]],
) -> tuple[dict[str, Any], Metrics]:
    """The parameters the train span picks and their in-sample metrics; a tune search adds every
    combination it evaluated to ``evaluated`` (the PBO candidates)."""
    if search == "grid":
        return choose_on_grid(
            lake, series, strategy, ranges, goal, config, window,
            strategies_dir=strategies_dir, version=version,
        )  # fmt: skip
    from torchtrader.optimize.tune import run_tune

    tuned = run_tune(
        lake, series, strategy, space, search=space.search, samples=samples, objective=goal,
        config=config, seed=seed, start=window.train_start, end=window.train_end,
        ray_address=ray_address, tracking_uri=tracking_uri, experiment=experiment,
        strategies_dir=strategies_dir, parent_run_id=parent_run_id, version=version,
    )  # fmt: skip
    names = tuned.param_names
    evaluated.extend(tuned.frame.select(names).unique(maintain_order=True).iter_rows(named=True))
    return tuned.best_params(), tuned.best.metrics


def choose_on_grid(
    lake: Lake,
    series: SeriesRef,
    strategy: str,
    ranges: Mapping[str, Sequence[Any]],
    goal: Any,
    config: BacktestConfig,
    window: Window,
    *,
    strategies_dir: str | None = None,
    version: int | None = None,
) -> tuple[dict[str, Any], Metrics]:
    """Sweep the grid on the window's train span; the best eligible combo by the objective."""
    from torchtrader.backtest import runner
    from torchtrader.optimize.objectives import score
    from torchtrader.timeframes import bars_per_year

    swept = runner.sweep(
        lake, series, strategy, ranges, config, rank_by=goal.metric, top_k=1,
        strategies_dir=strategies_dir, version=version, start=window.train_start, end=window.train_end,
    )  # fmt: skip
    n_bars = len(swept.top[0].equity) if swept.top else 0
    values = score(swept.metrics, goal, bars_per_year=bars_per_year(series.timeframe), n_bars=n_bars).values
    if np.isnan(values).all():
        logger.warning("window %d: no combo is eligible; taking the best by %s", window.index, goal.metric)
        row = swept.ranked().row(0, named=True)
    else:
        row = swept.metrics.row(int(np.nanargmax(values)), named=True)
    names = Metrics.names()
    metrics = {k: (math.nan if row[k] is None else row[k]) for k in names}
    params = {k: v for k, v in row.items() if k not in names}
    return params, _metrics(metrics)


def _summarise(
    lake: Lake,
    series: SeriesRef,
    cls: Any,
    candidates: Sequence[Any],
    evaluated: Sequence[dict[str, Any]],
    done: list[WindowResult],
    tests: Sequence[Any],
    config: BacktestConfig,
    objective: str,
    search: str,
    version: int | None,
    seed: int,
) -> WalkForwardResult:
    from torchtrader.backtest.engine import ts_series
    from torchtrader.optimize.walkforward_stats import mean_metrics, stitched_metrics, walkforward_pbo
    from torchtrader.strategies import parse_params

    oos, equity = stitched_metrics(tests)
    pool = list(candidates)
    if not pool:  # tune searches: every combination any window evaluated competes
        distinct = {tuple(sorted(p.items())): p for p in evaluated}
        pool = [parse_params(cls, p) for p in distinct.values()]
    pbo = walkforward_pbo(
        lake, series, cls(), pool, [w.window for w in done], config, version=version, seed=seed
    )
    stamps = np.concatenate([r.equity["ts"].dt.epoch("ns").to_numpy() for r in tests])
    return WalkForwardResult(
        strategy=cls.name,
        symbol=series.symbol,
        timeframe=series.timeframe,
        search=search,
        objective=objective,
        lake_version=version,
        windows=done,
        oos=oos,
        in_sample=mean_metrics([w.in_sample for w in done]),
        pbo=pbo,
        equity=pl.DataFrame({"ts": ts_series(stamps), "equity": equity}),
    )


def _metrics(values: Mapping[str, Any]) -> Metrics:
    return Metrics(**{**values, "n_trades": int(values["n_trades"])})


def _with_bars(windows: list[Window], ts: np.ndarray[Any, Any]) -> list[Window]:
    """Drop a final test span holding fewer than 2 bars (it cannot be scored); refuse when none is left."""
    from torchtrader.backtest.engine import ts_ns

    def count(window: Window) -> int:
        lo, hi = np.searchsorted(ts, [ts_ns(window.test_start), ts_ns(window.test_end)], side="left")
        return int(hi - lo)

    kept = list(windows)
    while kept and count(kept[-1]) < 2:  # the last span may be cut short by the data's end
        kept.pop()
    if not kept:
        raise ConfigError("no test window holds 2 bars after the first train span: shorten --train or --test")
    for window in kept:
        if count(window) < 2:
            raise ConfigError(
                f"test window {window.test_start.date()} .. {window.test_end.date()} holds fewer than 2 bars"
                " (a gap in the data): lengthen --test"
            )
    return kept


def _time(ns: int) -> Any:
    from torchtrader.backtest.engine import bar_time

    return bar_time(np.array([ns], dtype=np.int64), 0)
