"""The training loop: seeded, bit-for-bit deterministic on CPU, early stopping on validation loss.

All samples of a split live in one tensor on the device; an epoch is one seeded permutation and
``index_select`` batches, so no per-sample Python runs on the hot path. On CUDA the forward pass
runs under autocast (bfloat16 where supported, else float16 with a gradient scaler); on CPU it runs
in float32 with ``torch.use_deterministic_algorithms`` on for the duration of the fit.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from torchtrader.errors import ConfigError
from torchtrader.models.data import SPLITS, Target, Windowed, normaliser_stats
from torchtrader.models.metrics import score
from torchtrader.models.nets import ModelKind, SignalModel, build_net

logger = logging.getLogger(__name__)

DeviceName = Literal["auto", "cpu", "cuda"]
EVAL_BATCH = 4096


class TrainConfig(BaseModel):
    """Everything that decides a fit (frozen; the JSON of a run's params)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelKind = "lstm"
    target: Target = "direction"
    horizon: Annotated[int, Field(ge=1)] = 1
    lookback: Annotated[int, Field(ge=2)] = 32
    epochs: Annotated[int, Field(ge=1)] = 20
    batch_size: Annotated[int, Field(ge=1)] = 64
    lr: Annotated[float, Field(gt=0)] = 1e-3
    seed: int = 0
    device: DeviceName = "auto"
    hidden: Annotated[int, Field(ge=1)] = 32
    layers: Annotated[int, Field(ge=1)] = 1
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    patience: Annotated[int, Field(ge=1)] = 5
    weight_decay: Annotated[float, Field(ge=0)] = 0.0


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a one-line ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda: no CUDA device is available on this machine; use --device cpu or auto"
        )
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


@dataclass(frozen=True)
class FitResult:
    """The best model (weights of the lowest validation loss) and how the fit went."""

    model: SignalModel
    device: str
    epochs_run: int
    best_epoch: int
    samples_per_s: float
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, float]] = field(default_factory=list)


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on CPU for the duration (restored afterwards)."""
    if device.type != "cpu":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also NaN-fills every torch.empty by default: ~10 % of an LSTM step on CPU,
    # and nothing here reads memory it did not write, so the fill buys no determinism.
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill  # type: ignore[attr-defined]


def make_model(data: Windowed, config: TrainConfig, feature_spec: str = "") -> SignalModel:
    """A freshly initialised model (seeded) with the train split's normalisation."""
    torch.manual_seed(config.seed)
    mean, std = normaliser_stats(data)
    net = build_net(
        config.model,
        data.n_features,
        hidden=config.hidden,
        layers=config.layers,
        dropout=config.dropout,
        lookback=data.lookback,
    )
    return SignalModel(
        net,
        mean=mean,
        std=std,
        kind=config.model,
        target=data.target,
        lookback=data.lookback,
        horizon=data.horizon,
        columns=data.columns,
        feature_spec=feature_spec,
    )


def loss_fn(target: str) -> Callable[[Tensor, Tensor], Tensor]:
    if target == "direction":
        return F.binary_cross_entropy_with_logits
    return F.mse_loss


def _autocast(
    device: torch.device,
) -> tuple[contextlib.AbstractContextManager[Any], torch.amp.GradScaler | None]:
    if device.type != "cuda":
        return contextlib.nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


@torch.no_grad()
def predict(model: SignalModel, x: Tensor, device: torch.device) -> Tensor:
    """Model outputs (probabilities or returns) for ``x`` in evaluation batches, float32 on the CPU."""
    model.eval()
    outputs = []
    cast, _ = _autocast(device)
    for start in range(0, len(x), EVAL_BATCH):
        with cast:
            outputs.append(model(x[start : start + EVAL_BATCH].to(device)).float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


@torch.no_grad()
def _mean_loss(model: SignalModel, x: Tensor, y: Tensor, device: torch.device, target: str) -> float:
    model.eval()
    cast, _ = _autocast(device)
    losses = []
    criterion = loss_fn(target)
    for start in range(0, len(x), EVAL_BATCH):
        with cast:
            out = model.raw(x[start : start + EVAL_BATCH])
        losses.append(criterion(out.float(), y[start : start + EVAL_BATCH], reduction="sum"))  # type: ignore[call-arg]
    return float(torch.stack(losses).sum()) / max(len(x), 1)


@dataclass
class TrainState:
    """Everything a fit needs to continue after ``epoch`` bit for bit: weights, optimiser, both RNGs,
    the best weights so far and the early-stopping bookkeeping (a Ray Tune trial's checkpoint)."""

    epoch: int
    model: dict[str, Tensor]
    optimiser: dict[str, Any]
    rng: dict[str, Tensor]
    best_loss: float
    best_epoch: int
    best_model: dict[str, Tensor]
    history: list[dict[str, float]]
    seen: int
    train_seconds: float
    stopped: bool = False
    scaler: dict[str, Any] | None = None

    def save(self, path: Path) -> None:
        torch.save(self.__dict__, path)

    @classmethod
    def load(cls, path: Path) -> TrainState:
        try:
            values = torch.load(path, map_location="cpu", weights_only=True)
            return cls(**values)
        except Exception as error:  # a truncated or foreign file, whatever torch raises for it
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            raise ConfigError(
                f"cannot resume from {path}: not a training checkpoint ({type(error).__name__}: {first})"
            ) from None


def _cpu_copy(state: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v.detach().cpu() if isinstance(v, Tensor) else v for k, v in state.items()})


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Tensor]:
    # the permutation generator orders batches; the global RNG draws dropout masks
    state = {"permutation": generator.get_state(), "global": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Tensor], generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(state["permutation"])
    torch.set_rng_state(state["global"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fit(
    data: Windowed,
    config: TrainConfig,
    *,
    feature_spec: str = "",
    on_epoch: Callable[[dict[str, float], TrainState], None] | None = None,
    resume: TrainState | None = None,
) -> FitResult:
    """Train ``config.model`` on ``data``'s train split; keep the weights of the best validation loss.

    ``on_epoch({"train_loss", "val_loss"}, state)`` is called after every epoch with the state to
    resume from (Ray Tune reports and checkpoints from there); ``resume`` continues such a state, and
    the result equals the uninterrupted fit's bit for bit on CPU.
    """
    device = resolve_device(config.device)
    with deterministic(device):
        model = make_model(data, config, feature_spec).to(device)
        x = {split: data.windows(split).to(device) for split in SPLITS}
        y = {split: data.split_labels(split).to(device) for split in SPLITS}
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        criterion = loss_fn(data.target)
        cast, scaler = _autocast(device)
        generator = torch.Generator().manual_seed(config.seed)
        n_train = len(x["train"])
        best_loss, best_epoch, best_state = float("inf"), 0, _cpu_copy(model.state_dict())
        history: list[dict[str, float]] = []
        seen, train_seconds, first_epoch, stopped = 0, 0.0, 1, False
        if resume is not None:
            model.load_state_dict(resume.model)
            optimiser.load_state_dict(resume.optimiser)
            if scaler is not None and resume.scaler is not None:
                scaler.load_state_dict(resume.scaler)
            _set_rng_state(resume.rng, generator, device)
            best_loss, best_epoch, best_state = resume.best_loss, resume.best_epoch, resume.best_model
            history, seen, train_seconds = list(resume.history), resume.seen, resume.train_seconds
            first_epoch, stopped = resume.epoch + 1, resume.stopped
        epochs_run = first_epoch - 1
        for epoch in range(first_epoch, config.epochs + 1):
            if stopped:
                break
            model.train()
            order = torch.randperm(n_train, generator=generator).to(device)
            started = time.perf_counter()
            total = torch.zeros((), device=device)
            for start in range(0, n_train, config.batch_size):
                index = order[start : start + config.batch_size]
                xb, yb = x["train"].index_select(0, index), y["train"].index_select(0, index)
                optimiser.zero_grad(set_to_none=True)
                with cast:
                    loss = criterion(model.raw(xb).float(), yb)
                if scaler is not None:
                    scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                    scaler.step(optimiser)
                    scaler.update()
                else:
                    loss.backward()  # type: ignore[no-untyped-call]
                    optimiser.step()
                total += loss.detach() * len(index)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            train_seconds += time.perf_counter() - started
            seen += n_train
            epochs_run = epoch
            val_loss = _mean_loss(model, x["val"], y["val"], device, data.target)
            record = {"train_loss": float(total) / n_train, "val_loss": val_loss}
            history.append(record)
            if val_loss < best_loss:
                best_loss, best_epoch, best_state = val_loss, epoch, _cpu_copy(model.state_dict())
            elif epoch - best_epoch >= config.patience:
                logger.info(
                    "early stop after epoch %d (best %d, val loss %.6f)", epoch, best_epoch, best_loss
                )
                stopped = True
            if on_epoch is not None:
                on_epoch(
                    record,
                    TrainState(
                        epoch=epoch,
                        model=_cpu_copy(model.state_dict()),
                        optimiser=_cpu_copy(optimiser.state_dict()),
                        rng=_rng_state(generator, device),
                        best_loss=best_loss,
                        best_epoch=best_epoch,
                        best_model=best_state,
                        history=list(history),
                        seen=seen,
                        train_seconds=train_seconds,
                        stopped=stopped,
                        scaler=None if scaler is None else scaler.state_dict(),
                    ),
                )
        model.load_state_dict(best_state)
        metrics = {
            split: score(data.target, predict(model, x[split], device), y[split].cpu()) for split in SPLITS
        }
    model = model.cpu().eval()
    return FitResult(
        model=model,
        device=device.type,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        samples_per_s=seen / train_seconds if train_seconds > 0 else 0.0,
        metrics=metrics,
        history=history,
    )


def parameters_of(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
