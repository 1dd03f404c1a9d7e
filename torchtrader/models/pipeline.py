"""Train one model on one lake series, tracked in MLflow, optionally registered as ``challenger``.

Everything that can be refused is checked before an MLflow run opens (device, bars, features,
splits, NaNs, lookahead), so bad input leaves no run and no model behind; a failure after that ends
the run FAILED with its reason. What the CLI's ``train`` and the retrain flow call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from torchtrader.errors import DataError
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.lake import Lake
from torchtrader.models.data import DEFAULT_FEATURES, SPLITS, Windowed, build_windows
from torchtrader.models.registry import Registered, log_signal_model, register
from torchtrader.models.training import FitResult, TrainConfig, fit, resolve_device

logger = logging.getLogger(__name__)

EXPERIMENT = "models"


@dataclass(frozen=True)
class TrainReport:
    """The ``torchtrader train`` JSON document."""

    run_id: str
    model_uri: str
    registered: Registered | None
    device: str
    splits: dict[str, tuple[str, str]]
    metrics: dict[str, dict[str, float]]
    epochs_run: int
    samples_per_s: float
    lake_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "registered": None if self.registered is None else self.registered.to_json(),
            "device": self.device,
            "splits": {name: list(span) for name, span in self.splits.items()},
            "metrics": self.metrics,
            "epochs_run": self.epochs_run,
            "samples_per_s": self.samples_per_s,
        }


def read_series(
    lake: Lake, symbol: str, timeframe: str, source: str | None = None, *, version: int | None = None
) -> tuple[Any, int | None]:
    """One series' bars frame at a pinned lake version (None = latest) and that version."""
    pinned = lake.version("bars") if version is None else version
    if pinned is None:
        raise DataError("the lake holds no bars yet: ingest some first (torchtrader ingest ...)")
    frame = lake.read_bars(symbol, timeframe, source=source, version=pinned)
    if frame.height == 0:
        raise DataError(f"no {timeframe} bars for {symbol} in the lake: ingest them first")
    sources = frame["source"].unique().to_list() if "source" in frame.columns else []
    if len(sources) > 1:
        raise DataError(f"{symbol} {timeframe} has bars from several sources ({', '.join(sorted(sources))})")
    return frame, pinned


def prepare(frame: Any, config: TrainConfig, features: FeatureSet | None, label: str) -> Windowed:
    return build_windows(
        frame,
        lookback=config.lookback,
        horizon=config.horizon,
        target=config.target,
        features=features or DEFAULT_FEATURES,
        label=label,
    )


def train_model(
    lake: Lake,
    symbol: str,
    config: TrainConfig,
    *,
    tracking_uri: str,
    timeframe: str = "1d",
    source: str | None = None,
    features: FeatureSet | None = None,
    register_as: str | None = None,
    experiment: str = EXPERIMENT,
    version: int | None = None,
    parent_run_id: str | None = None,
    last_bars: int | None = None,
) -> TrainReport:
    """Fit ``config`` on the series (its ``last_bars`` latest bars when given: walk-forward
    retraining), log run + model, register ``register_as`` as challenger."""
    from torchtrader.tracking import check_tracking_uri, lineage_tags, tracked_run

    resolve_device(config.device)
    check_tracking_uri(tracking_uri)
    frame, pinned = read_series(lake, symbol, timeframe, source, version=version)
    if last_bars is not None:
        frame = frame.sort("ts").tail(last_bars)
    data = prepare(frame, config, features, f"{symbol} {timeframe}")
    feature_set = features or DEFAULT_FEATURES
    tags = lineage_tags(lake_version=pinned, strategy="ml_signal", seed=config.seed)
    tags |= {"symbol": symbol, "timeframe": timeframe, "target": config.target, "model": config.model}
    with tracked_run(
        tracking_uri,
        experiment,
        run_name=f"{config.model}-{symbol}-{timeframe}",
        tags=tags,
        params={**config.model_dump(), "symbol": symbol, "timeframe": timeframe, "features": data.columns},
        parent_run_id=parent_run_id,
    ) as run:
        result = fit(data, config, feature_spec=feature_set.model_dump_json())
        log_fit(run, result)
        run.log_text(feature_set.model_dump_json(indent=2), "features.json")
        model_uri = log_signal_model(tracking_uri, run.run_id, result.model, data.windows("test"))
        registered = None
        if register_as is not None:
            registered = register(
                tracking_uri,
                register_as,
                model_uri,
                run_id=run.run_id,
                target=config.target,
                test_metrics=result.metrics["test"],
            )
            run.set_tags({"registered_model": f"{registered.name}/{registered.version}"})
    return TrainReport(
        run_id=run.run_id,
        model_uri=model_uri,
        registered=registered,
        device=result.device,
        splits={split: data.time_span(split) for split in SPLITS},
        metrics=result.metrics,
        epochs_run=result.epochs_run,
        samples_per_s=result.samples_per_s,
        lake_version=pinned,
    )


def log_fit(run: Any, result: FitResult) -> None:
    """Per-epoch losses as metric history, final split metrics as ``<split>_<metric>``."""
    for epoch, record in enumerate(result.history, start=1):
        run.log_metrics(record, step=epoch)
    run.log_metrics(
        {f"{split}_{k}": v for split, values in result.metrics.items() for k, v in values.items()}
        | {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch}
        | {"samples_per_s": result.samples_per_s}
    )
