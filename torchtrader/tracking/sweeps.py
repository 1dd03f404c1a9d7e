"""`sweep --track`: a grid sweep as an MLflow parent run, and re-running one from what it recorded.

The run carries the lineage tags (lake table + version, git commit, strategy and user-file hash, search
"grid", date range), the sweep's settings as params, the best combination's metrics, the table of every
evaluated combination as a Parquet artifact, the best's tearsheet as HTML, and the spec
(``sweep_spec.json``) that ``runs reproduce`` re-runs on the same lake version. The URI, the strategy
and the grid are checked before a run exists; anything failing later ends the run FAILED with the reason.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from torchtrader.backtest.config import BacktestConfig
from torchtrader.errors import ConfigError

if TYPE_CHECKING:
    from torchtrader.backtest.results import SweepResult
    from torchtrader.lake import Lake
    from torchtrader.tracking.runs import TrackedRun

logger = logging.getLogger(__name__)

SWEEP_SPEC_ARTIFACT = "sweep_spec.json"
SWEEP_RESULT_ARTIFACT = "sweep_result.json"
SWEEP_TABLE_ARTIFACT = "combinations.parquet"
SWEEP_TEARSHEET_ARTIFACT = "best_tearsheet.html"
SWEEP_KIND = "sweep"


class SweepSpec(BaseModel):
    """Everything a sweep is computed from: enough to run it again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    timeframe: str = "1d"
    source: str | None = None
    adjust: str = "split"
    strategy: str
    grid: dict[str, list[int | float | str]]
    config: BacktestConfig = BacktestConfig()
    rank_by: str = "sharpe"
    top_k: int = 10
    start: datetime | None = None
    end: datetime | None = None
    lake_version: int | None = None
    pbo: bool = False
    strategies_dir: str | None = None


@dataclass(frozen=True)
class TrackedSweep:
    """A sweep and its document (the CLI's sweep JSON plus ``run_id`` and ``experiment``)."""

    result: SweepResult
    document: dict[str, Any]
    run_id: str
    experiment: str


def run_tracked_sweep(
    lake: Lake, spec: SweepSpec, *, tracking_uri: str, experiment: str | None = None
) -> TrackedSweep:
    """Run ``spec``'s sweep (pinned to the lake's current bars version unless the spec names one)
    inside an MLflow parent run and log its outcome."""
    from torchtrader.backtest.runner import grid_params
    from torchtrader.strategies import load_strategy
    from torchtrader.tracking.lineage import strategy_file
    from torchtrader.tracking.runs import check_tracking_uri, tracked_run

    check_tracking_uri(tracking_uri)
    grid_params(load_strategy(spec.strategy, spec.strategies_dir), spec.grid)  # bad grid: no run
    if spec.lake_version is None:
        spec = spec.model_copy(update={"lake_version": lake.version("bars")})
    experiment = experiment or f"sweep-{spec.strategy}"
    name = f"sweep-{spec.strategy}-{spec.symbol}"
    with tracked_run(
        tracking_uri, experiment, run_name=name, tags=sweep_tags(spec), params=sweep_params(spec)
    ) as run:
        run.log_text(spec.model_dump_json(indent=2), SWEEP_SPEC_ARTIFACT)
        file = strategy_file(spec.strategy, spec.strategies_dir)
        if file is not None:
            run.log_artifact(file, "strategy")
        result, document = _sweep(lake, spec)
        document["run_id"] = run.run_id
        document["experiment"] = experiment
        log_sweep_outcome(run, lake, spec, result, document)
        return TrackedSweep(result, document, run.run_id, experiment)


def sweep_tags(spec: SweepSpec) -> dict[str, str]:
    from torchtrader.tracking.lineage import lineage_tags

    tags = lineage_tags(
        lake_version=spec.lake_version,
        strategy=spec.strategy,
        strategies_dir=spec.strategies_dir,
        search="grid",
        start=spec.start,
        end=spec.end,
    )
    tags.update(
        {"kind": SWEEP_KIND, "symbol": spec.symbol, "timeframe": spec.timeframe, "rank_by": spec.rank_by}
    )
    return tags


def sweep_params(spec: SweepSpec) -> dict[str, Any]:
    grid = " ".join(f"{k}={','.join(str(v) for v in values)}" for k, values in spec.grid.items())
    return {
        "symbol": spec.symbol,
        "timeframe": spec.timeframe,
        "strategy": spec.strategy,
        "rank_by": spec.rank_by,
        "adjust": spec.adjust,
        "fee": spec.config.fee,
        "slippage_bps": spec.config.slippage_bps,
        "grid": grid[:5000],
    }


def _sweep(lake: Lake, spec: SweepSpec) -> tuple[SweepResult, dict[str, Any]]:
    from torchtrader.backtest.runner import SeriesRef, sweep
    from torchtrader.lake.corporate_actions import check_adjust

    series = SeriesRef(spec.symbol, spec.timeframe, spec.source, check_adjust(spec.adjust))
    result = sweep(
        lake,
        series,
        spec.strategy,
        spec.grid,
        spec.config,
        rank_by=spec.rank_by,
        top_k=spec.top_k,
        strategies_dir=spec.strategies_dir,
        version=spec.lake_version,
        start=spec.start,
        end=spec.end,
    )
    document = result.to_json(top=spec.top_k)
    if spec.pbo:
        from torchtrader.optimize.sweep_stats import sweep_pbo

        found = sweep_pbo(
            lake, series, spec.strategy, result, spec.config, strategies_dir=spec.strategies_dir
        )
        document["pbo"] = found.to_json()
    return result, document


def log_sweep_outcome(
    run: TrackedRun, lake: Lake, spec: SweepSpec, result: SweepResult, document: dict[str, Any]
) -> None:
    """The best's metrics and params, the combination table, the result document, the tearsheet."""
    from torchtrader.backtest.runner import tearsheet

    best = document["top"][0] if document["top"] else {"params": {}, "metrics": {}}
    metrics: dict[str, Any] = {f"best_{k}": v for k, v in best["metrics"].items()}
    metrics.update(n_evaluations=result.n_combos, n_combos=result.n_combos)
    metrics["best_objective"] = best["metrics"].get(spec.rank_by)
    if document.get("deflated_sharpe"):
        metrics["deflated_sharpe"] = document["deflated_sharpe"].get("dsr")
    if document.get("pbo"):
        metrics["pbo"] = document["pbo"].get("pbo")
    run.log_metrics(metrics)
    run.log_params({f"best.{k}": v for k, v in best["params"].items()})
    run.set_tags({"best_params": json.dumps(best["params"], sort_keys=True)})
    run.log_frame(result.frame, SWEEP_TABLE_ARTIFACT)
    run.log_text(json.dumps(document, indent=2, allow_nan=False), SWEEP_RESULT_ARTIFACT)
    if result.top:
        with tempfile.TemporaryDirectory(prefix="tt-sweep-sheet-") as folder:
            path = tearsheet(lake, result.top[0], Path(folder) / SWEEP_TEARSHEET_ARTIFACT, source=spec.source)
            run.log_artifact(path)


def reproduce_sweep(client: Any, run: Any, lake: Lake, *, tracking_uri: str) -> dict[str, Any]:
    """Run a tracked sweep again from its spec (a new run tagged ``reproduces``); compare the best
    combination's params and metrics and the whole combination table with what was recorded."""
    import polars as pl
    from mlflow.exceptions import MlflowException

    from torchtrader.tracking.lineage import file_sha256, git_state, strategy_file

    run_id = run.info.run_id
    with tempfile.TemporaryDirectory(prefix="tt-reproduce-sweep-") as folder:
        try:
            paths = [
                client.download_artifacts(run_id, name, folder)
                for name in (SWEEP_SPEC_ARTIFACT, SWEEP_RESULT_ARTIFACT, SWEEP_TABLE_ARTIFACT)
            ]
        except (MlflowException, OSError):
            raise ConfigError(
                f"run {run_id} holds no {SWEEP_SPEC_ARTIFACT}/{SWEEP_RESULT_ARTIFACT}: "
                "only a finished tracked sweep reproduces"
            ) from None
        spec = SweepSpec.model_validate_json(Path(paths[0]).read_text(encoding="utf-8"))
        recorded = json.loads(Path(paths[1]).read_text(encoding="utf-8"))
        table = pl.read_parquet(paths[2])
    experiment = client.get_experiment(run.info.experiment_id).name
    again = run_tracked_sweep(lake, spec, tracking_uri=tracking_uri, experiment=experiment)
    client.set_tag(again.run_id, "reproduces", run_id)
    was = recorded["top"][0] if recorded["top"] else {"params": {}, "metrics": {}}
    now = again.document["top"][0] if again.document["top"] else {"params": {}, "metrics": {}}
    differences = [
        {"field": f"best.{field}.{key}", "recorded": was[field].get(key), "reproduced": now[field].get(key)}
        for field in ("params", "metrics")
        for key in sorted(set(was[field]) | set(now[field]))
        if was[field].get(key) != now[field].get(key)
    ]
    table_identical = table.equals(again.result.frame)
    if not table_identical:
        differences.append(
            {"field": "combinations", "recorded": table.height, "reproduced": again.result.n_combos}
        )
    tags = run.data.tags
    sha, dirty = git_state()
    file = strategy_file(spec.strategy, spec.strategies_dir)
    return {
        "run_id": run_id,
        "reproduced_run_id": again.run_id,
        "kind": SWEEP_KIND,
        "identical": not differences,
        "params_identical": was["params"] == now["params"],
        "metrics_identical": was["metrics"] == now["metrics"],
        "table_identical": table_identical,
        "differences": differences,
        "best": now,
        "lake_version": spec.lake_version,
        "seed": None,
        "code": {
            "recorded": tags.get("mlflow.source.git.commit"),
            "current": sha,
            "matches": tags.get("mlflow.source.git.commit") == sha,
            "dirty": dirty,
            "strategy_file_sha256": {
                "recorded": tags.get("strategy_file_sha256"),
                "current": None if file is None else file_sha256(file),
            },
        },
    }
