"""tune-model: real local Ray, ASHA, checkpoints, a parent MLflow run with nested trial runs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_tune_model_nests_trials_and_registers_the_best(
    run_cli: Any, tmp_path: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as left behind by a strategy tune earlier in the same process: tune-model still reads its trials
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    lake = str(tmp_path / "lake")
    Lake(lake).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31)))
    out = tmp_path / "tune.json"
    run = run_cli(
        lake, "tune-model", "--model", "lstm", "--symbol", "SPX", "--samples", "3", "--epochs", "2",
        "--lookbacks", "4,8", "--hiddens", "4", "--scheduler", "asha", "--register", "tuned",
        "--mlflow-uri", mlflow_uri, "--json", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(out.read_text())
    assert len(doc["trials"]) == 3 and doc["gpus_per_trial"] == 0.0
    assert doc["best"]["val_loss"] == min(t["val_loss"] for t in doc["trials"])
    assert doc["best"]["config"]["lookback"] in (4, 8)
    assert doc["registered"] == {"name": "tuned", "version": 1, "alias": "challenger"}
    client = MlflowClient(tracking_uri=mlflow_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == doc["parent_run_id"]]
    assert len(children) == 4  # three trials and the refit of the best
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert doc["run_id"] in {r.info.run_id for r in children}


def _checkpoints(storage: Path) -> list[Path]:
    return sorted(storage.glob("tune-model/*/checkpoint_*"))


@pytest.mark.slow
def test_an_interrupted_tune_model_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    """Ctrl-C mid-sweep: one line naming the way back, trials and checkpoints kept; `--resume`
    continues every unfinished trial from its latest checkpoint (Ray's own per-result counters show
    the restore), and each trial's result equals an uninterrupted fit of its configuration."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    from torchtrader.models.data import DEFAULT_FEATURES
    from torchtrader.models.pipeline import prepare, read_series
    from torchtrader.models.training import TrainConfig, fit

    lake, storage, out = tmp_path / "lake", tmp_path / "tune", tmp_path / "tune.json"
    Lake(str(lake)).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31)))
    epochs = 40
    command = [
        str(Path(sys.executable).parent / "torchtrader"), "--lake", str(lake), "tune-model",
        "--model", "lstm", "--symbol", "SPX", "--samples", "2", "--epochs", str(epochs),
        "--lookbacks", "4,8", "--hiddens", "4", "--scheduler", "fifo", "--device", "cpu",
        "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--storage", str(storage),
        "--json", str(out),
    ]  # fmt: skip
    env = {**os.environ, "RAY_TMPDIR": "/tmp", "RAY_USAGE_STATS_ENABLED": "0"}
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 180
    while not _checkpoints(storage) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=180)
    assert first.returncode == 1, err
    assert err.strip().splitlines()[-1].startswith("error: tune-model interrupted with")
    assert f"--storage {storage} --resume" in err
    assert not out.exists()

    second = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    doc = json.loads(out.read_text())
    assert [t["epochs"] for t in doc["trials"]] == [epochs, epochs]
    assert doc["storage"] == str(storage)
    restored = []
    for results in storage.glob("tune-model/*/result.json"):
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        restored.append(any(r["iterations_since_restore"] < r["training_iteration"] for r in rows))
    assert any(restored), "no trial continued from a checkpoint"

    frame, _ = read_series(Lake(str(lake)), "SPX", "1d", None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a one-CPU Ray trial
    try:
        for trial in doc["trials"]:
            config = TrainConfig(
                model="lstm", epochs=epochs, batch_size=64, patience=epochs, device="cpu", **trial["config"]
            )
            data = prepare(frame, config, DEFAULT_FEATURES, "SPX")
            uninterrupted = min(h["val_loss"] for h in fit(data, config).history)
            assert trial["val_loss"] == uninterrupted, trial["config"]
    finally:
        torch.set_num_threads(threads)


def test_resume_without_a_resumable_run_is_one_line(run_cli: Any, tmp_path: Path, mlflow_uri: str) -> None:
    lake = str(tmp_path / "lake")
    Lake(lake).upsert_bars(sample_frame("SPX", date(2015, 1, 1), date(2016, 12, 31)))
    base = [lake, "tune-model", "--symbol", "SPX", "--samples", "1", "--mlflow-uri", mlflow_uri, "--resume"]
    for extra, message in (
        ([], "error: --resume needs --storage DIR"),
        (["--storage", str(tmp_path / "empty")], "error: --resume: no interrupted tune-model run in"),
    ):
        run = run_cli(*base, *extra)
        assert run.code == 1
        assert run.err.strip().startswith(message) and len(run.err.strip().splitlines()) == 1, run.err
