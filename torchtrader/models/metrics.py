"""Out-of-sample scores of a model's predictions (tensors in, plain floats out).

Direction (classification): ``accuracy``, ``balanced_accuracy`` (mean recall of the classes
present) and ``log_loss`` (binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]).
Return (regression): ``mse`` and ``ic``, the Spearman rank information coefficient (Pearson
correlation of the ranks; ties get their average rank).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_EPS = 1e-7

# the metric whose improvement makes a challenger better than a champion, and its direction
SELECTION_METRIC = {"direction": ("log_loss", "min"), "return": ("mse", "min")}


def classification_metrics(probability: Tensor, label: Tensor) -> dict[str, float]:
    p = probability.detach().to(torch.float64).clamp(_EPS, 1 - _EPS)
    y = label.detach().to(torch.float64)
    predicted = (p > 0.5).to(torch.float64)
    recalls = [
        float((predicted[y == cls] == cls).to(torch.float64).mean())
        for cls in (0.0, 1.0)
        if bool((y == cls).any())
    ]
    log_loss = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    return {
        "accuracy": float((predicted == y).to(torch.float64).mean()),
        "balanced_accuracy": sum(recalls) / len(recalls) if recalls else math.nan,
        "log_loss": float(log_loss),
    }


def _ranks(x: Tensor) -> Tensor:
    """Average ranks (1-based) with ties sharing the mean of their positions."""
    order = torch.argsort(x, stable=True)
    sorted_x = x[order]
    position = torch.arange(1, len(x) + 1, dtype=torch.float64)
    _, inverse, counts = torch.unique_consecutive(sorted_x, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    average = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(position)
    ranks[order] = average[inverse]
    return ranks


def spearman_ic(prediction: Tensor, target: Tensor) -> float:
    a = _ranks(prediction.detach().to(torch.float64))
    b = _ranks(target.detach().to(torch.float64))
    a, b = a - a.mean(), b - b.mean()
    denominator = float((a.square().sum() * b.square().sum()).sqrt())
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def regression_metrics(prediction: Tensor, target: Tensor) -> dict[str, float]:
    p = prediction.detach().to(torch.float64)
    y = target.detach().to(torch.float64)
    return {"mse": float((p - y).square().mean()), "ic": spearman_ic(p, y)}


def score(target: str, prediction: Tensor, label: Tensor) -> dict[str, float]:
    """The metrics of ``target`` (``direction``: predictions are probabilities)."""
    if target == "direction":
        return classification_metrics(prediction, label)
    return regression_metrics(prediction, label)


def beats(target: str, challenger: dict[str, float], champion: dict[str, float]) -> bool:
    """Whether the challenger's selection metric is strictly better than the champion's."""
    name, sense = SELECTION_METRIC[target]
    mine, theirs = challenger.get(name), champion.get(name)
    if mine is None or not math.isfinite(mine):
        return False
    if theirs is None or not math.isfinite(theirs):
        return True
    return mine < theirs if sense == "min" else mine > theirs
