"""Training: determinism, leakage controls that can fail, early stopping, metrics vs sklearn/scipy."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss

from torchtrader.errors import ConfigError
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.models import MODEL_KINDS, TrainConfig, build_windows, fit, resolve_device
from torchtrader.models.data import Windowed
from torchtrader.models.metrics import classification_metrics, regression_metrics

ONE_RETURN = FeatureSet.of({"function": "ROCP", "params": {"timeperiod": 1}})
TINY = {"lookback": 8, "hidden": 8, "epochs": 4, "batch_size": 32, "lr": 5e-3}


@pytest.fixture(scope="module")
def ar_data(ar_frame: pl.DataFrame) -> Windowed:
    return build_windows(ar_frame, lookback=8, horizon=1, features=ONE_RETURN)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_rerun_is_bit_for_bit_identical(kind: str, ar_data: Windowed) -> None:
    config = TrainConfig(model=kind, **{**TINY, "epochs": 2})
    first, second = fit(ar_data, config), fit(ar_data, config)
    for (name, a), b in zip(
        first.model.state_dict().items(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert first.metrics == second.metrics
    assert first.history == second.history


def test_the_seed_matters(ar_data: Windowed) -> None:
    config = TrainConfig(model="lstm", **{**TINY, "epochs": 1})
    a, b = fit(ar_data, config), fit(ar_data, config.model_copy(update={"seed": 1}))
    assert not torch.equal(next(iter(a.model.net.parameters())), next(iter(b.model.net.parameters())))


def _chance_band(n: int) -> float:
    """Three standard errors of a coin's hit rate on ``n`` samples."""
    return 3 * math.sqrt(0.25 / n)


def test_a_real_signal_is_learned_and_shuffled_labels_score_at_chance(ar_data: Windowed) -> None:
    """Positive control first (AR(1) direction is learnable: theory ≈ 0.70), then the same model on
    labels permuted across all samples must be indistinguishable from a coin on the test split. If
    test samples overlapped the ones it was trained on, memorised shuffled labels would score."""
    config = TrainConfig(model="tcn", **{**TINY, "epochs": 8}, patience=8)
    n_test = ar_data.splits["test"][1] - ar_data.splits["test"][0]
    real = fit(ar_data, config)
    assert real.metrics["test"]["balanced_accuracy"] > 0.5 + _chance_band(n_test)
    permutation = torch.randperm(len(ar_data.labels), generator=torch.Generator().manual_seed(7))
    shuffled = Windowed(**{**ar_data.__dict__, "labels": ar_data.labels[permutation]})
    control = fit(shuffled, config)
    assert abs(control.metrics["test"]["balanced_accuracy"] - 0.5) < _chance_band(n_test)
    assert control.metrics["test"]["log_loss"] > real.metrics["test"]["log_loss"]


def test_a_leaked_label_is_what_a_leak_looks_like(ar_frame: pl.DataFrame) -> None:
    """Sanity of the control above: a feature holding tomorrow's return (checks off) scores near
    perfect, so a chance-level score on shuffled labels is evidence, not a broken model."""

    def tomorrow(bars: pl.DataFrame) -> pl.DataFrame:
        return bars.select(
            "ts", (pl.col("close").shift(-1) / pl.col("close") - 1).fill_null(0.0).alias("peek")
        )

    leaked = build_windows(ar_frame, lookback=8, horizon=1, features=tomorrow, check_causality=False)
    result = fit(leaked, TrainConfig(model="tcn", **{**TINY, "epochs": 15}, patience=15))
    assert result.metrics["test"]["accuracy"] > 0.9


def test_early_stopping_keeps_the_best_validation_epoch(ar_data: Windowed) -> None:
    result = fit(ar_data, TrainConfig(model="lstm", **{**TINY, "epochs": 30, "lr": 0.05}, patience=2))
    losses = [h["val_loss"] for h in result.history]
    assert result.epochs_run == len(losses) < 30
    assert result.best_epoch == 1 + int(np.argmin(losses))
    assert result.epochs_run - result.best_epoch == 2


def test_regression_target_reports_mse_and_ic(ar_frame: pl.DataFrame) -> None:
    data = build_windows(ar_frame, lookback=8, horizon=1, features=ONE_RETURN, target="return")
    result = fit(data, TrainConfig(model="lstm", target="return", **TINY))
    assert set(result.metrics["test"]) == {"mse", "ic"}
    assert result.samples_per_s > 0


def test_metrics_agree_with_sklearn_and_scipy() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(200) > 0.35).astype(float)
    p = np.clip(0.6 * y + rng.random(200) * 0.5, 0, 1)
    got = classification_metrics(torch.tensor(p), torch.tensor(y))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p > 0.5))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p > 0.5))
    assert got["log_loss"] == pytest.approx(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)), rel=1e-9)
    a = np.round(rng.normal(size=300), 1)  # ties: average ranks
    b = a + rng.normal(size=300)
    reg = regression_metrics(torch.tensor(a), torch.tensor(b))
    assert reg["ic"] == pytest.approx(spearmanr(a, b).statistic, rel=1e-12)
    assert reg["mse"] == pytest.approx(float(np.mean((a - b) ** 2)))


def test_cuda_without_a_gpu_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_cuda_training_matches_cpu(kind: str, ar_data: Windowed) -> None:
    """Same seed, same data: CUDA (mixed precision) lands on the same out-of-sample quality as CPU."""
    config = TrainConfig(model=kind, **TINY)
    cpu = fit(ar_data, config.model_copy(update={"device": "cpu"}))
    gpu = fit(ar_data, config.model_copy(update={"device": "cuda"}))
    assert gpu.device == "cuda"
    assert gpu.metrics["test"]["log_loss"] == pytest.approx(cpu.metrics["test"]["log_loss"], abs=0.02)
    assert gpu.metrics["test"]["accuracy"] == pytest.approx(cpu.metrics["test"]["accuracy"], abs=0.05)
