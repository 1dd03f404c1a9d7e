"""Walk-forward results (the CLI's JSON contract) and their MLflow runs.

``WalkForwardResult.to_json()``: ``{"windows": [{"train_start", "train_end", "test_start", "test_end",
"best_params", "in_sample", "out_of_sample"}, …], "oos", "is", "pbo", "run_id"}`` with times as
ISO-8601 UTC and non-finite numbers as null. The walk-forward is one MLflow parent run (lineage tags,
settings as params, OOS/IS metrics and PBO, the windows table and stitched equity as Parquet
artifacts, the JSON document); each window is a nested run with its spans as tags, its chosen
parameters as params and ``is_*``/``oos_*`` metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from torchtrader.backtest.results import Metrics, iso_utc
from torchtrader.optimize.overfit import PboResult
from torchtrader.optimize.windows import Window

if TYPE_CHECKING:
    from torchtrader.tracking import TrackedRun


@dataclass(frozen=True)
class WindowResult:
    """One window: the parameters its train span chose and how they did in and out of sample."""

    window: Window
    best_params: dict[str, Any]
    in_sample: Metrics
    out_of_sample: Metrics
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "train_start": iso_utc(self.window.train_start),
            "train_end": iso_utc(self.window.train_end),
            "test_start": iso_utc(self.window.test_start),
            "test_end": iso_utc(self.window.test_end),
            "best_params": self.best_params,
            "in_sample": self.in_sample.to_json(),
            "out_of_sample": self.out_of_sample.to_json(),
        }


@dataclass(frozen=True)
class WalkForwardResult:
    """A whole walk-forward; ``to_json`` is the CLI contract."""

    strategy: str
    symbol: str
    timeframe: str
    search: str
    objective: str
    lake_version: int | None
    windows: list[WindowResult]
    oos: Metrics
    in_sample: Metrics
    pbo: PboResult | None
    equity: pl.DataFrame  # the stitched out-of-sample curve: ts, equity
    run_id: str | None = None
    experiment_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": [w.to_json() for w in self.windows],
            "oos": self.oos.to_json(),
            "is": self.in_sample.to_json(),
            "pbo": self.pbo.pbo if self.pbo is not None else None,
            "run_id": self.run_id,
        }

    def windows_frame(self) -> pl.DataFrame:
        """One row per window: spans, chosen parameters (as text) and in/out-of-sample metrics."""
        rows = []
        for w in self.windows:
            row: dict[str, Any] = {
                "window": w.window.index,
                "train_start": w.window.train_start,
                "train_end": w.window.train_end,
                "test_start": w.window.test_start,
                "test_end": w.window.test_end,
                "best_params": " ".join(f"{k}={v}" for k, v in w.best_params.items()),
            }
            row.update({f"is_{k}": float(v) for k, v in w.in_sample.to_dict().items()})
            row.update({f"oos_{k}": float(v) for k, v in w.out_of_sample.to_dict().items()})
            rows.append(row)
        return pl.DataFrame(rows)


def log_parent(parent: TrackedRun, result: WalkForwardResult) -> WalkForwardResult:
    import dataclasses
    import json

    result = dataclasses.replace(result, run_id=parent.run_id, experiment_id=parent.experiment_id)
    metrics: dict[str, float | int | None] = {
        **prefixed(result.oos, "oos_"),
        **prefixed(result.in_sample, "is_"),
    }
    if result.pbo is not None:
        metrics["pbo"] = result.pbo.pbo
    parent.log_metrics(metrics)
    parent.log_frame(result.windows_frame(), "oos_windows.parquet")
    parent.log_frame(result.equity, "oos_equity.parquet")
    parent.log_text(json.dumps(result.to_json(), indent=2, allow_nan=False), "walkforward.json")
    return result


def run_id_of(run: TrackedRun | None) -> str | None:
    return run.run_id if run is not None else None


def prefixed(metrics: Metrics, prefix: str) -> dict[str, float | int | None]:
    return {f"{prefix}{k}": v for k, v in metrics.to_json().items()}


@contextlib.contextmanager
def parent_run(
    tracking_uri: str | None,
    experiment: str,
    strategy: str,
    version: int | None,
    strategies_dir: str | None,
    seed: int,
    search: str,
    windows: Sequence[Window],
) -> Iterator[TrackedRun | None]:
    if tracking_uri is None:
        yield None
        return
    from torchtrader.tracking import lineage_tags, tracked_run

    tags = lineage_tags(
        lake_version=version, strategy=strategy, strategies_dir=strategies_dir, seed=seed, search=search,
        start=windows[0].train_start, end=windows[-1].test_end,
    )  # fmt: skip
    with tracked_run(tracking_uri, experiment, run_name=f"walkforward-{strategy}", tags=tags) as run:
        yield run


@contextlib.contextmanager
def child_run(
    tracking_uri: str | None, experiment: str, parent: TrackedRun | None, window: Window
) -> Iterator[TrackedRun | None]:
    if tracking_uri is None or parent is None:
        yield None
        return
    from torchtrader.tracking import tracked_run

    tags = {
        "window": str(window.index),
        "train_start": iso_utc(window.train_start),
        "train_end": iso_utc(window.train_end),
        "test_start": iso_utc(window.test_start),
        "test_end": iso_utc(window.test_end),
    }
    name = f"window-{window.index}"
    with tracked_run(tracking_uri, experiment, run_name=name, tags=tags, parent_run_id=parent.run_id) as run:
        yield run
