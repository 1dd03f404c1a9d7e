"""Resumable fits: a fit continued from an epoch's saved state equals the uninterrupted fit bit for bit."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch

from torchtrader.errors import ConfigError
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.models import MODEL_KINDS, TrainConfig, build_windows, fit
from torchtrader.models.data import Windowed
from torchtrader.models.training import FitResult, TrainState

ONE_RETURN = FeatureSet.of({"function": "ROCP", "params": {"timeperiod": 1}})
# dropout > 0: the global RNG's dropout masks must resume too, not only the batch order
SMALL = {"lookback": 8, "hidden": 8, "epochs": 4, "batch_size": 32, "lr": 5e-3, "dropout": 0.3}


@pytest.fixture(scope="module")
def ar_data(ar_frame: pl.DataFrame) -> Windowed:
    return build_windows(ar_frame, lookback=8, horizon=1, features=ONE_RETURN)


def _states(data: Windowed, config: TrainConfig) -> tuple[FitResult, list[TrainState]]:
    states: list[TrainState] = []
    result = fit(data, config, on_epoch=lambda _record, state: states.append(state))
    return result, states


def _assert_same(a: FitResult, b: FitResult) -> None:
    for (name, left), right in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(left, right), name
    assert a.history == b.history
    assert a.metrics == b.metrics
    assert (a.epochs_run, a.best_epoch) == (b.epochs_run, b.best_epoch)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_fit_resumed_from_a_saved_epoch_equals_the_uninterrupted_fit(
    kind: str, ar_data: Windowed, tmp_path: Path
) -> None:
    config = TrainConfig(model=kind, **SMALL, patience=4)
    whole, states = _states(ar_data, config)
    assert [s.epoch for s in states] == [1, 2, 3, 4]
    states[1].save(tmp_path / "state.pt")  # through the file, as a Tune checkpoint does
    torch.manual_seed(12345)  # whatever the process did in between must not matter
    resumed = fit(ar_data, config, resume=TrainState.load(tmp_path / "state.pt"))
    _assert_same(whole, resumed)


def test_resuming_an_early_stopped_fit_trains_no_further(ar_data: Windowed) -> None:
    config = TrainConfig(model="lstm", **{**SMALL, "epochs": 30, "lr": 0.05, "dropout": 0.0}, patience=2)
    whole, states = _states(ar_data, config)
    assert whole.epochs_run < 30 and states[-1].stopped
    resumed = fit(ar_data, config, resume=states[-1])
    _assert_same(whole, resumed)


@pytest.mark.parametrize("content", ["garbage", "foreign", "truncated"])
def test_a_resume_that_is_not_a_checkpoint_is_one_line(
    content: str, ar_data: Windowed, tmp_path: Path
) -> None:
    bad = tmp_path / "state.pt"
    if content == "garbage":
        bad.write_bytes(b"not a checkpoint")
    elif content == "foreign":
        torch.save({"weights": torch.zeros(3)}, bad)
    else:
        _, states = _states(ar_data, TrainConfig(model="tcn", **{**SMALL, "epochs": 1}))
        states[0].save(bad)
        bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(
        ConfigError, match=r"cannot resume from .*state\.pt: not a training checkpoint"
    ) as info:
        TrainState.load(bad)
    assert "\n" not in str(info.value)
