"""Driving Ray Tune for one tune: batches to trials, trials to nested MLflow runs, results to a table."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import polars as pl

from torchtrader.backtest.engine import sweep_order
from torchtrader.backtest.results import Metrics
from torchtrader.errors import BacktestError
from torchtrader.optimize._report import (
    RESULT_ARTIFACT,
    TEARSHEET_ARTIFACT,
    TuneResult,
    TuneSpec,
    trial_summary,
)
from torchtrader.optimize._trainable import TrialContext, evaluate_batch
from torchtrader.optimize.objectives import score
from torchtrader.optimize.space import SearchSpace
from torchtrader.strategies import Bars, Strategy, StrategyParams

logger = logging.getLogger(__name__)


class _TrialFailedError(Exception):
    """A trial's error, named in its nested run's ``failure_reason``."""


def search_batches(
    spec: TuneSpec,
    cls: type[Strategy],
    space: SearchSpace,
    bars: Bars,
    combos: Sequence[StrategyParams],
    resources: dict[str, float],
    trade_from: int,
    ppy: float,
    n_bars: int,
    parent: Any,
) -> tuple[pl.DataFrame, int]:
    """Run the Tune experiment; every evaluation as one row (combo order = grid / draw / ask order)."""
    from ray import tune

    from torchtrader.optimize._ray import Collector, TrialRecord
    from torchtrader.optimize.tune import disable_tune_file_loggers, scratch_dir

    disable_tune_file_loggers()
    order = sweep_order(combos)
    index_batches = [order[i : i + spec.batch_size] for i in range(0, len(order), spec.batch_size)]
    batches = tuple(tuple(combos[i].model_dump() for i in rows) for rows in index_batches)
    context = TrialContext(
        key=uuid.uuid4().hex,
        strategy=spec.strategy,
        strategies_dir=spec.strategies_dir,
        bars=bars,
        config=spec.config,
        trade_from=trade_from,
        batches=batches,
    )

    def scores_of(result: dict[str, Any] | None) -> list[float | None]:
        if result is None:
            return []
        values = score(_metrics_frame(columns_of(result)), spec.objective, bars_per_year=ppy, n_bars=n_bars)
        return [None if v != v else float(v) for v in values.values]

    def log_trial(record: TrialRecord) -> None:
        chunk = record.config.get("chunk")
        combos = batches[int(chunk)] if chunk is not None else record.config.get("batch", ())
        _log_trial(parent, spec, record, combos, scores_of(record.result))

    collector = Collector(on_record=log_trial if parent is not None else None)
    trainable = tune.with_resources(tune.with_parameters(evaluate_batch, context=context), resources)
    if spec.search == "bayes":
        from torchtrader.optimize._bayes import BatchedTPE

        def for_sampler(result: Any) -> list[float]:
            return [-1e12 if s is None else s for s in scores_of(dict(result))]

        searcher = BatchedTPE(
            space,
            cls,
            samples=int(spec.samples or 0),
            batch_size=spec.batch_size,
            round_trials=spec.round_trials,
            seed=spec.seed,
            score_batch=for_sampler,
        )
        tune_config = tune.TuneConfig(
            search_alg=searcher,
            num_samples=int(spec.samples or 1),
            reuse_actors=True,
            trial_dirname_creator=_trial_dirname,
        )
        param_space: dict[str, Any] = {}
    else:
        tune_config = tune.TuneConfig(num_samples=1, reuse_actors=True, trial_dirname_creator=_trial_dirname)
        param_space = {"chunk": tune.grid_search(list(range(len(batches))))}
    with scratch_dir("torchtrader-tune-") as storage:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune_config,
            run_config=tune.RunConfig(
                name=f"tune-{context.key[:10]}",
                storage_path=str(storage),
                verbose=0,
                callbacks=[collector],
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=True),
            ),
        )
        # Tune narrates trials on stdout even at verbose=0; stdout belongs to `--json -`.
        # Tune's result grid looks for the per-trial files we do not write: a warning per trial.
        quiet = logging.getLogger("ray.tune.analysis.experiment_analysis")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                tuner.fit()
        finally:
            quiet.setLevel(level)
    failed = [r for r in collector.records if r.error or r.result is None]
    if failed:
        raise BacktestError(f"tune trial {failed[0].index} failed: {failed[0].error or 'no result reported'}")
    return _table(collector.records, index_batches, batches), len(collector.records)


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _table(records: Sequence[Any], index_batches: list[list[int]], batches: tuple[Any, ...]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    ordered = sorted(records, key=lambda r: int(r.config.get("chunk", r.config.get("seq", 0))))
    next_combo = 0
    for trial, record in enumerate(ordered):
        if "chunk" in record.config:
            chunk = int(record.config["chunk"])
            combos, indices = batches[chunk], index_batches[chunk]
        else:
            combos = record.config["batch"]
            indices = list(range(next_combo, next_combo + len(combos)))
            next_combo += len(combos)
        columns = columns_of(record.result)
        for row, (combo, index) in enumerate(zip(combos, indices, strict=True)):
            entry = {"combo": index, "trial": trial, **combo}
            entry.update({name: columns[name][row] for name in Metrics.names()})
            rows.append(entry)
    frame = pl.DataFrame(rows, infer_schema_length=None).sort("combo")
    casts = [pl.col(name).cast(pl.Float64) for name in Metrics.names() if name != "n_trades"]
    return frame.with_columns([*casts, pl.col("n_trades").cast(pl.Int64)])


def columns_of(result: dict[str, Any]) -> dict[str, list[Any]]:
    """The batch's metric columns from a trial result (searchers get Tune's flattened keys)."""
    if "columns" in result:
        return dict(result["columns"])
    prefix = "columns/"
    return {key.removeprefix(prefix): value for key, value in result.items() if key.startswith(prefix)}


def _metrics_frame(columns: dict[str, list[Any]]) -> pl.DataFrame:
    frame = pl.DataFrame({name: columns[name] for name in Metrics.names()}, strict=False)
    return frame.with_columns(pl.col(name).cast(pl.Float64) for name in Metrics.names())


def _log_trial(
    parent: Any, spec: TuneSpec, record: Any, combos: Sequence[dict[str, Any]], scores: list[float | None]
) -> None:
    from torchtrader.tracking import failure_reason

    started = int(record.result["started_s"] * 1000) if record.result else None
    params: dict[str, Any] = {"trial_index": record.index, "search": spec.search, "batch": len(combos)}
    if "chunk" in record.config:
        params["chunk"] = record.config["chunk"]
    for name in combos[0] if combos else ():
        values = [c[name] for c in combos]
        with contextlib.suppress(TypeError, ValueError):
            params[f"{name}_min"], params[f"{name}_max"] = min(values), max(values)
    summary: dict[str, Any] = {}
    if not record.error and record.result is not None:
        summary = trial_summary(columns_of(record.result), scores)
        summary["elapsed_s"] = float(record.result["finished_s"] - record.result["started_s"])
    parent.log_nested(
        run_name=f"trial-{record.index:03d}",
        tags={"kind": "tune-trial", "ray_trial_id": record.trial_id},
        params=params,
        metrics=summary,
        start_time_ms=started,
        failure=failure_reason(_TrialFailedError(record.error)) if record.error else None,
    )


def log_outcome(parent: Any, lake: Any, result: TuneResult, bars: Bars, trade_from: int) -> None:
    """The parent run's metrics and artifacts: best metrics, the evaluation table, the tearsheet."""
    from torchtrader.backtest.tearsheet import write_tearsheet
    from torchtrader.optimize.tune import scratch_dir

    document = result.to_json()
    best = document["best"]
    metrics: dict[str, Any] = {f"best_{k}": v for k, v in best["metrics"].items()}
    metrics.update(n_evaluations=result.n_evaluations, n_trials=result.n_trials, elapsed_s=result.elapsed_s)
    if result.deflated_sharpe is not None:
        metrics["deflated_sharpe"] = result.deflated_sharpe.dsr
    parent.log_metrics(metrics)
    parent.log_params({f"best.{k}": v for k, v in best["params"].items()})
    parent.set_tags({"best_params": json.dumps(best["params"], sort_keys=True)})
    parent.log_frame(result.frame, "evaluations")
    parent.log_text(json.dumps(document, indent=2, allow_nan=False), RESULT_ARTIFACT)
    traded = bars.window(trade_from) if trade_from else bars
    with scratch_dir("torchtrader-sheet-") as folder:
        path = write_tearsheet(result.best, traded, folder / TEARSHEET_ARTIFACT)
        parent.log_artifact(path)
