"""`torchtrader train`, `models list|promote`, `ml_signal` through the CLI on real S&P 500 bars, with a
real MLflow SQLite store; bad input leaves no registered model and no RUNNING run."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from mlflow import MlflowClient
from sklearn.metrics import log_loss

from torchtrader.lake import Lake
from torchtrader.models.data import build_windows
from torchtrader.models.registry import promote_on_merit, register
from torchtrader.testing.market import sample_frame

from .conftest import ar_bars

TINY = ("--lookback", "8", "--hidden", "8", "--epochs", "2", "--batch-size", "64")


@pytest.fixture
def lake(tmp_path: Path) -> str:
    uri = str(tmp_path / "lake")
    Lake(uri).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31)))
    return uri


@pytest.fixture
def cli(run_cli: Callable[..., Any], lake: str, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TORCHTRADER_MLFLOW_URI", mlflow_uri)  # ml_signal reads the settings

    def run(*args: str, on: str = lake) -> Any:
        return run_cli(on, *args)

    return run


def _store_state(uri: str) -> tuple[list[str], list[str]]:
    client = MlflowClient(tracking_uri=uri)
    models = [m.name for m in client.search_registered_models()]
    experiments = [e.experiment_id for e in client.search_experiments()]
    statuses = [r.info.status for r in client.search_runs(experiments)] if experiments else []
    return models, statuses


def test_train_register_promote_load_and_trade(cli: Any, mlflow_uri: str, tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    run = cli("train", "--model", "tcn", "--symbol", "SPX", *TINY, "--register", "spx", "--json", str(out))
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert set(doc) == {
        "run_id", "model_uri", "registered", "device", "splits", "metrics", "epochs_run", "samples_per_s",
    }  # fmt: skip
    assert doc["registered"] == {"name": "spx", "version": 1, "alias": "challenger"}
    assert doc["device"] == "cpu" and doc["epochs_run"] == 2 and doc["samples_per_s"] > 0
    assert set(doc["metrics"]["test"]) == {"accuracy", "balanced_accuracy", "log_loss"}
    spans = [doc["splits"][s] for s in ("train", "val", "test")]
    assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0]  # ISO times sort in time order
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(doc["run_id"]).info.status == "FINISHED"

    listed = cli("models", "list", "--json")
    assert json.loads(listed.out)[0]["versions"][0]["aliases"] == ["challenger"]
    assert cli("models", "promote", "spx", "--version", "1").code == 0

    # the round trip: models:/spx@champion loads and reproduces the reported test log loss, scored
    # here independently (sklearn) on windows rebuilt from the raw bars
    import mlflow.pytorch

    mlflow.set_tracking_uri(mlflow_uri)
    try:
        champion = mlflow.pytorch.load_model("models:/spx@champion")
        pinned = mlflow.pytorch.load_model("models:/spx/1")
    finally:
        mlflow.set_tracking_uri("")
    data = build_windows(sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31)), lookback=8, horizon=1)
    with torch.no_grad():
        p = champion(data.windows("test")).numpy()
        assert np.array_equal(p, pinned(data.windows("test")).numpy())
    expected = log_loss(data.split_labels("test").numpy(), np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])
    assert doc["metrics"]["test"]["log_loss"] == pytest.approx(expected, rel=1e-4)

    model = "--param", "model=spx@champion"
    backtest = cli("backtest", "-s", "SPX", "--strategy", "ml_signal", *model, "--json", "-")
    assert backtest.code == 0, backtest.err
    assert json.loads(backtest.out)["params"]["model"] == "spx@champion"
    sweep = cli(
        "sweep", "-s", "SPX", "--strategy", "ml_signal", "--grid", "model=spx@champion",
        "--grid", "long_threshold=0.5,0.55", "--grid", "short_threshold=0.4,0.5", "--json", "-",
    )  # fmt: skip
    assert sweep.code == 0, sweep.err
    assert json.loads(sweep.out)["n_combos"] == 4
    look = cli("lookahead", "--strategy", "ml_signal", "--symbol", "SPX", *model, "--prefixes", "8")
    assert look.code == 0, look.err
    assert "lookahead check passed" in look.out


def test_promotion_by_merit_only(cli: Any, mlflow_uri: str) -> None:
    run = cli("train", "--model", "lstm", "--symbol", "SPX", *TINY, "--json", "-")
    doc = json.loads(run.out)
    source = {"model_uri": doc["model_uri"], "run_id": doc["run_id"], "target": "direction"}
    register(mlflow_uri, "m", test_metrics={"log_loss": 0.69}, **source)  # type: ignore[arg-type]
    first = promote_on_merit(mlflow_uri, "m")
    assert first.promoted and first.challenger == 1  # nothing to beat
    register(mlflow_uri, "m", test_metrics={"log_loss": 0.70}, **source)  # type: ignore[arg-type]
    worse = promote_on_merit(mlflow_uri, "m")
    assert not worse.promoted and worse.champion == 1
    register(mlflow_uri, "m", test_metrics={"log_loss": 0.60}, **source)  # type: ignore[arg-type]
    better = promote_on_merit(mlflow_uri, "m")
    assert better.promoted and better.challenger == 3
    assert int(MlflowClient(tracking_uri=mlflow_uri).get_model_version_by_alias("m", "champion").version) == 3


def _zero_volume_lake(tmp_path: Path) -> str:
    uri = str(tmp_path / "zlake")
    frame = ar_bars(400, symbol="ZV").with_columns(
        pl.when(pl.int_range(pl.len()).is_between(200, 210))
        .then(0.0)
        .otherwise(pl.col("volume"))
        .alias("volume")
    )
    Lake(uri).upsert_bars(frame)
    return uri


BAD_INPUT = [
    ("too few bars", ("--lookback", "200"), "too few bars"),
    ("unknown indicator", ("--features", "{bad_features}"), "unknown TA-Lib function 'SMAA'"),
    ("cuda without a GPU", ("--device", "cuda"), "no CUDA device"),
    ("NaNs in features", ("--features", "{vwma}", "--symbol", "ZV"), "feature 'vwma_5' is NaN"),
]


@pytest.mark.parametrize(("case", "extra", "message"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_and_leaves_nothing(
    case: str,
    extra: tuple[str, ...],
    message: str,
    cli: Any,
    mlflow_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (tmp_path / "bad.toml").write_text('[[feature]]\nfunction = "SMAA"\n')
    (tmp_path / "vwma.toml").write_text('[[feature]]\nfunction = "VWMA"\nparams = { timeperiod = 5 }\n')
    args = [a.format(bad_features=tmp_path / "bad.toml", vwma=tmp_path / "vwma.toml") for a in extra]
    on = _zero_volume_lake(tmp_path) if "ZV" in args else None
    symbol = [] if "--symbol" in args else ["--symbol", "SPX"]
    run = cli("train", *symbol, *TINY, *args, "--register", "x", **({"on": on} if on else {}))
    assert run.code == 1
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.err
    models, statuses = _store_state(mlflow_uri)
    assert models == [] and "RUNNING" not in statuses


def test_unknown_alias_and_version_are_one_line(cli: Any, mlflow_uri: str) -> None:
    bt = cli("backtest", "-s", "SPX", "--strategy", "ml_signal", "--param", "model=nope@champion")
    assert bt.code == 1 and "has no alias 'champion'" in bt.err and len(bt.err.strip().splitlines()) == 1
    promote = cli("models", "promote", "nope", "--version", "1")
    assert promote.code == 1 and "no registered model 'nope'" in promote.err
    assert _store_state(mlflow_uri)[0] == []
