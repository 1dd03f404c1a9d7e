"""Deep-learning models on lake features: leakage-proof datasets, networks, training, registry.

data = build_windows(bars_frame, lookback=32, horizon=1, target="direction")
result = fit(data, TrainConfig(model="lstm", epochs=10))
result.metrics["test"]          # {"accuracy", "balanced_accuracy", "log_loss"}
"""

from __future__ import annotations

from torchtrader.models.data import (
    DEFAULT_FEATURES,
    LeakageError,
    Windowed,
    build_windows,
    check_causal,
    feature_frame,
)
from torchtrader.models.nets import MODEL_KINDS, SignalModel, build_net
from torchtrader.models.training import FitResult, TrainConfig, fit, predict, resolve_device

__all__ = [
    "DEFAULT_FEATURES",
    "MODEL_KINDS",
    "FitResult",
    "LeakageError",
    "SignalModel",
    "TrainConfig",
    "Windowed",
    "build_net",
    "build_windows",
    "check_causal",
    "feature_frame",
    "fit",
    "predict",
    "resolve_device",
]
