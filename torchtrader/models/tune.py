"""Ray Tune over model hyperparameters (lookback, hidden size, layers, dropout, lr) with ASHA.

Each trial fits one configuration, reporting the validation loss after every epoch with a
``tune.Checkpoint`` of its weights, so ASHA stops the unpromising ones early. Trials ask for a GPU
share only when the cluster has a GPU. Afterwards the driver logs one nested MLflow run per trial
under a parent run, refits the best configuration (nested too) and logs, and optionally registers,
that model as ``challenger`` through ``train_model``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchtrader.errors import ConfigError, TorchTraderError
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.lake import Lake
from torchtrader.models.pipeline import EXPERIMENT, TrainReport, prepare, read_series, train_model
from torchtrader.models.training import TrainConfig, TrainState, fit, resolve_device

logger = logging.getLogger(__name__)

DEFAULT_SPACE: dict[str, list[Any]] = {
    "lookback": [16, 32, 64],
    "hidden": [16, 32, 64],
    "layers": [1, 2],
    "dropout": [0.0, 0.3],  # low, high: uniform
    "lr": [1e-4, 1e-2],  # low, high: log-uniform
}
SCHEDULERS = ("asha", "fifo")
RUN_NAME = "tune-model"


class TuneInterruptedError(TorchTraderError):
    """The sweep stopped before every trial finished; its state is on disk to resume from."""


def _check_resumable(storage: Path, given: str | None) -> None:
    from ray import tune

    if given is None:
        raise ConfigError("--resume needs --storage DIR: the folder of the interrupted tune-model run")
    if not tune.Tuner.can_restore(str(storage / RUN_NAME)):
        raise ConfigError(f"--resume: no interrupted tune-model run in {storage} (expected {RUN_NAME}/)")


@dataclass(frozen=True)
class TuneModelReport:
    parent_run_id: str
    best_config: dict[str, Any]
    best_val_loss: float
    trials: list[dict[str, Any]]
    gpus_per_trial: float
    final: TrainReport
    storage: str = ""  # the trials and their checkpoints

    def to_json(self) -> dict[str, Any]:
        return {
            "parent_run_id": self.parent_run_id,
            "best": {"config": self.best_config, "val_loss": self.best_val_loss},
            "trials": self.trials,
            "gpus_per_trial": self.gpus_per_trial,
            "storage": self.storage,
            **self.final.to_json(),
        }


def _search_space(space: dict[str, list[Any]]) -> dict[str, Any]:
    from ray import tune

    low_dropout, high_dropout = space["dropout"]
    low_lr, high_lr = space["lr"]
    return {
        "lookback": tune.choice(space["lookback"]),
        "hidden": tune.choice(space["hidden"]),
        "layers": tune.choice(space["layers"]),
        "dropout": tune.uniform(low_dropout, high_dropout) if low_dropout < high_dropout else low_dropout,
        "lr": tune.loguniform(low_lr, high_lr) if low_lr < high_lr else low_lr,
    }


CHECKPOINT_FILE = "state.pt"


def _trainable(config: dict[str, Any], *, frame: Any, base: dict[str, Any], features: str) -> None:
    """One trial: fit, reporting val loss and a resumable checkpoint every epoch; a trial Tune
    restarts (a crashed worker, a resumed run) continues from its latest checkpoint."""
    from ray import tune

    train_config = TrainConfig(**{**base, **config})
    feature_set = FeatureSet.model_validate_json(features)
    data = prepare(frame, train_config, feature_set, "trial")
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume = TrainState.load(Path(folder) / CHECKPOINT_FILE)
        logger.info("trial resumes after epoch %d", resume.epoch)

    def report(record: dict[str, float], state: TrainState) -> None:
        with tempfile.TemporaryDirectory(prefix="tt-ckpt-") as folder:
            state.save(Path(folder) / CHECKPOINT_FILE)
            tune.report({**record, "epoch": state.epoch}, checkpoint=tune.Checkpoint.from_directory(folder))

    fit(data, train_config, feature_spec=features, on_epoch=report, resume=resume)


def gpu_share(requested: float | None, samples: int) -> float:
    """GPU fraction per trial: 0 without a GPU in the cluster; else the request or a fair share."""
    import ray

    gpus = float(ray.cluster_resources().get("GPU", 0.0))  # type: ignore[no-untyped-call]
    if gpus < 1:
        if requested:
            logger.warning("--gpus-per-trial %s ignored: no GPU in the Ray cluster", requested)
        return 0.0
    if requested is not None:
        return requested
    return max(gpus / max(samples, 1), 0.25) if samples > gpus else 1.0


def tune_model(
    lake: Lake,
    symbol: str,
    base: TrainConfig,
    *,
    samples: int,
    tracking_uri: str,
    timeframe: str = "1d",
    source: str | None = None,
    features: FeatureSet | None = None,
    scheduler: str = "asha",
    gpus_per_trial: float | None = None,
    space: dict[str, list[Any]] | None = None,
    register_as: str | None = None,
    ray_address: str | None = None,
    storage_path: str | None = None,
    resume: bool = False,
    experiment: str = EXPERIMENT,
) -> TuneModelReport:
    """Sample ``samples`` configurations around ``base``; refit, log and register the best.

    Trials and their per-epoch checkpoints live under ``storage_path`` (a temporary folder when
    None). An interrupted run (Ctrl-C) raises TuneInterruptedError; ``resume=True`` with the same
    ``storage_path`` continues it, every unfinished trial from its latest checkpoint.
    """
    from ray import tune

    from torchtrader.models.data import DEFAULT_FEATURES
    from torchtrader.optimize._ray import ray_session
    from torchtrader.tracking import check_tracking_uri, lineage_tags, tracked_run

    if scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown --scheduler {scheduler!r}: use one of {', '.join(SCHEDULERS)}")
    if samples < 1:
        raise ConfigError("--samples must be at least 1")
    resolve_device(base.device)
    check_tracking_uri(tracking_uri)
    space = {**DEFAULT_SPACE, **(space or {})}
    feature_set = features or DEFAULT_FEATURES
    frame, pinned = read_series(lake, symbol, timeframe, source)
    # the longest lookback decides whether the bars suffice: refuse before Ray starts
    prepare(
        frame,
        base.model_copy(update={"lookback": max(space["lookback"])}),
        feature_set,
        f"{symbol} {timeframe}",
    )
    storage = Path(storage_path or tempfile.mkdtemp(prefix="tt-tune-model-")).resolve()
    if resume:
        _check_resumable(storage, storage_path)
    tags = lineage_tags(lake_version=pinned, strategy="ml_signal", seed=base.seed, search="random")
    tags |= {"symbol": symbol, "timeframe": timeframe, "model": base.model, "kind": "tune-model"}
    with tracked_run(tracking_uri, experiment, run_name=f"tune-{base.model}-{symbol}", tags=tags) as parent:
        parent.log_params({"samples": samples, "scheduler": scheduler, "space": space, **base.model_dump()})
        with ray_session(ray_address):
            share = gpu_share(gpus_per_trial, samples)
            trainable = tune.with_resources(
                tune.with_parameters(
                    _trainable,
                    frame=frame,
                    base=base.model_dump(exclude=set(space)),
                    features=feature_set.model_dump_json(),
                ),
                {"cpu": 1, "gpu": share} if share > 0 else {"cpu": 1},
            )
            chosen_scheduler = (
                tune.schedulers.ASHAScheduler(max_t=base.epochs, grace_period=1, reduction_factor=2)
                if scheduler == "asha"
                else tune.schedulers.FIFOScheduler()  # type: ignore[no-untyped-call]
            )
            if resume:
                tuner = tune.Tuner.restore(
                    str(storage / RUN_NAME), trainable, resume_unfinished=True, resume_errored=True
                )
            else:
                tuner = tune.Tuner(
                    trainable,
                    param_space=_search_space(space),
                    tune_config=tune.TuneConfig(
                        metric="val_loss",
                        mode="min",
                        num_samples=samples,
                        scheduler=chosen_scheduler,
                        search_alg=tune.search.BasicVariantGenerator(random_state=base.seed),
                    ),
                    run_config=tune.RunConfig(
                        storage_path=str(storage),
                        name=RUN_NAME,
                        verbose=0,
                        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                        # a trial whose worker dies restarts from its latest checkpoint
                        failure_config=tune.FailureConfig(max_failures=2),
                    ),
                )
            # the trials' per-epoch losses are read back from Tune's result files, which a strategy
            # tune earlier in this process switches off through the environment
            switch = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"
            previous = os.environ.get(switch)
            os.environ[switch] = "0"
            try:
                grid = tuner.fit()
            finally:
                if previous is None:
                    del os.environ[switch]
                else:
                    os.environ[switch] = previous
        # Tune marks the trials of an interrupted run TERMINATED on its way out; a trial that really
        # finished, by itself or stopped by the scheduler, has ``done`` on its last result
        results = [grid[index] for index in range(len(grid))]
        unfinished = sum(r.error is None and not (r.metrics or {}).get("done", False) for r in results)
        if unfinished:
            raise TuneInterruptedError(
                f"tune-model interrupted with {unfinished} unfinished trial(s); the trials "
                f"and their checkpoints are in {storage}: continue with the same command plus "
                f"--storage {storage} --resume"
            )
        trials = _log_trials(grid, tracking_uri, experiment, parent.run_id)
        finished = [t for t in trials if t["val_loss"] is not None]
        if not finished:
            raise ConfigError(f"no tune-model trial reported a validation loss: {trials[0].get('error')}")
        best = min(finished, key=lambda t: t["val_loss"])
        parent.log_metrics({"best_val_loss": best["val_loss"]})
        final = train_model(
            lake,
            symbol,
            base.model_copy(update=best["config"]),
            tracking_uri=tracking_uri,
            timeframe=timeframe,
            source=source,
            features=feature_set,
            register_as=register_as,
            experiment=experiment,
            version=pinned,
            parent_run_id=parent.run_id,
        )
    return TuneModelReport(
        parent.run_id, best["config"], best["val_loss"], trials, share, final, str(storage)
    )


def _log_trials(grid: Any, tracking_uri: str, experiment: str, parent_run_id: str) -> list[dict[str, Any]]:
    """One nested MLflow run per trial (params, per-epoch losses), ended with the trial's status."""
    from torchtrader.tracking import tracked_run

    trials = []
    for index, result in enumerate(grid):
        config = {k: result.config[k] for k in DEFAULT_SPACE if k in result.config}
        history = result.metrics_dataframe
        if history is not None and "epoch" in history:
            # a trial restarted from a checkpoint may report an epoch again: the later report counts
            history = history.drop_duplicates("epoch", keep="last").sort_values("epoch")
        losses = [] if history is None or "val_loss" not in history else list(history["val_loss"])
        trial = {
            "config": config,
            "val_loss": min(losses) if losses else None,
            "epochs": len(losses),
            "error": None if result.error is None else str(result.error).splitlines()[0][:300],
        }
        with tracked_run(
            tracking_uri, experiment, run_name=f"trial-{index}", params=config, parent_run_id=parent_run_id
        ) as run:
            for epoch, loss in enumerate(losses, start=1):
                run.log_metrics({"val_loss": float(loss)}, step=epoch)
            run.set_tags({"trial_error": trial["error"] or ""})
        trials.append(trial)
    return trials
