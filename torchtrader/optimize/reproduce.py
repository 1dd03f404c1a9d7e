"""Re-running a tracked tune from what it recorded, and saying whether the outcome is identical.

The tune's ``tune_spec.json`` artifact pins everything that decides the result: the series, the lake
version, the strategy and its space, the search, seed, warm-up and batch layout (a Bayesian search's
rounds depend on it). The code is checked, not forced: the report names the recorded and current git
commit and strategy-file hash, so a difference in the outcome can be traced to a code change.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from torchtrader.errors import ConfigError
from torchtrader.lake import Lake
from torchtrader.optimize._report import RESULT_ARTIFACT, SPEC_ARTIFACT, TuneSpec


def recorded_spec(client: Any, run_id: str) -> tuple[TuneSpec, dict[str, Any]]:
    """The spec and result document a tune run logged (a one-line error if it has none)."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="tt-reproduce-") as folder:
        try:
            spec_path = client.download_artifacts(run_id, SPEC_ARTIFACT, folder)
            result_path = client.download_artifacts(run_id, RESULT_ARTIFACT, folder)
        except (MlflowException, OSError):
            raise ConfigError(
                f"run {run_id} holds no {SPEC_ARTIFACT}/{RESULT_ARTIFACT}: only a finished tune reproduces"
            ) from None
        spec = TuneSpec.model_validate_json(Path(spec_path).read_text(encoding="utf-8"))
        document = json.loads(Path(result_path).read_text(encoding="utf-8"))
    return spec, document


def reproduce_tune(
    client: Any, run: Any, lake: Lake, *, tracking_uri: str | None, ray_address: str | None
) -> dict[str, Any]:
    """Run the recorded tune again (tracked, tagged ``reproduces``) and compare best params and metrics."""
    from torchtrader.backtest.runner import SeriesRef
    from torchtrader.optimize.tune import run_tune
    from torchtrader.tracking import file_sha256, git_state, strategy_file

    if run.data.tags.get("kind") == "sweep" and tracking_uri is not None:
        from torchtrader.tracking.sweeps import reproduce_sweep

        return reproduce_sweep(client, run, lake, tracking_uri=tracking_uri)
    run_id = run.info.run_id
    spec, recorded = recorded_spec(client, run_id)
    tags = run.data.tags
    experiment = client.get_experiment(run.info.experiment_id).name
    result = run_tune(
        lake,
        SeriesRef(spec.symbol, spec.timeframe, spec.source),
        spec.strategy,
        spec.space,
        search=spec.search,  # type: ignore[arg-type]
        samples=spec.samples,
        objective=spec.objective,
        config=spec.config,
        seed=spec.seed,
        start=spec.start,
        end=spec.end,
        ray_address=ray_address,
        tracking_uri=tracking_uri,
        experiment=experiment,
        strategies_dir=spec.strategies_dir,
        version=spec.lake_version,
        batch_size=spec.batch_size,
        round_trials=spec.round_trials,
        warmup=spec.warmup,
    )
    if result.run_id is not None:
        client.set_tag(result.run_id, "reproduces", run_id)
    now = result.to_json()
    differences = []
    for field in ("params", "metrics"):
        was, is_ = recorded["best"][field], now["best"][field]
        for key in sorted(set(was) | set(is_)):
            if was.get(key) != is_.get(key):
                differences.append(
                    {"field": f"best.{field}.{key}", "recorded": was.get(key), "reproduced": is_.get(key)}
                )
    sha, dirty = git_state()
    file = strategy_file(spec.strategy, spec.strategies_dir)
    return {
        "run_id": run_id,
        "reproduced_run_id": result.run_id,
        "identical": not differences,
        "params_identical": recorded["best"]["params"] == now["best"]["params"],
        "metrics_identical": recorded["best"]["metrics"] == now["best"]["metrics"],
        "differences": differences,
        "best": now["best"],
        "lake_version": spec.lake_version,
        "seed": spec.seed,
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
