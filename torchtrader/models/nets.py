"""The networks: LSTM, TCN (dilated causal convolutions), Transformer encoder (causal mask).

Each maps windows ``[batch, lookback, features]`` to one number per window (a logit for
``direction``, a return for ``return``). ``SignalModel`` wraps a network with what inference needs
to stay honest and self-contained: the train-split normalisation (buffers), the feature set, the
lookback, the horizon and the target, so a registered model can be loaded and fed raw features.
"""

from __future__ import annotations

import json
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ModelKind = Literal["lstm", "tcn", "transformer"]
MODEL_KINDS: tuple[ModelKind, ...] = ("lstm", "tcn", "transformer")


class LstmNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(x)
        logit: Tensor = self.head(out[:, -1])
        return logit.squeeze(-1)


class _CausalBlock(nn.Module):
    """Two dilated convolutions padded on the left only: output t sees inputs <= t."""

    def __init__(self, channels_in: int, channels: int, dilation: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(channels_in, channels, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(channels_in, channels, 1) if channels_in != channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.drop(F.relu(self.conv1(F.pad(x, (self.pad, 0)))))
        y = self.drop(F.relu(self.conv2(F.pad(y, (self.pad, 0)))))
        return F.relu(y + self.skip(x))


class TcnNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float, kernel: int = 3) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                _CausalBlock(n_features if i == 0 else hidden, hidden, 2**i, kernel, dropout)
                for i in range(layers)
            )
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.blocks(x.transpose(1, 2))  # [batch, channels, time]
        logit: Tensor = self.head(y[:, :, -1])
        return logit.squeeze(-1)


class TransformerNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float, lookback: int) -> None:
        super().__init__()
        heads = next(h for h in (4, 2, 1) if hidden % h == 0)
        self.embed = nn.Linear(n_features, hidden)
        self.position = nn.Parameter(torch.zeros(lookback, hidden))
        layer = nn.TransformerEncoderLayer(
            hidden, heads, dim_feedforward=2 * hidden, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.register_buffer(
            "mask", nn.Transformer.generate_square_subsequent_mask(lookback), persistent=False
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        steps = x.shape[1]
        h = self.embed(x) + self.position[-steps:]
        full_mask: Tensor = self.mask  # type: ignore[assignment]
        mask = full_mask[:steps, :steps]
        h = self.encoder(h, mask=mask, is_causal=True)
        logit: Tensor = self.head(h[:, -1])
        return logit.squeeze(-1)


def build_net(
    kind: str, n_features: int, *, hidden: int, layers: int, dropout: float, lookback: int
) -> nn.Module:
    """One of ``MODEL_KINDS`` with the given sizes."""
    if kind == "lstm":
        return LstmNet(n_features, hidden, layers, dropout)
    if kind == "tcn":
        return TcnNet(n_features, hidden, layers, dropout)
    if kind == "transformer":
        return TransformerNet(n_features, hidden, layers, dropout, lookback)
    raise ValueError(f"unknown model kind {kind!r}")


class SignalModel(nn.Module):
    """Raw feature windows ``[batch, lookback, F]`` → P(up) (direction) or the forward log return.

    ``raw`` gives logits for training; ``forward`` (what ``mlflow.pytorch`` serves) gives
    probabilities for direction models.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        mean: Tensor,
        std: Tensor,
        kind: str,
        target: str,
        lookback: int,
        horizon: int,
        columns: tuple[str, ...],
        feature_spec: str,
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.kind = kind
        self.target = target
        self.lookback = lookback
        self.horizon = horizon
        self.columns = columns
        self.feature_spec = feature_spec  # JSON of the FeatureSet, "" for a callable feature source

    def raw(self, x: Tensor) -> Tensor:
        mean: Tensor = self.mean  # type: ignore[assignment]
        std: Tensor = self.std  # type: ignore[assignment]
        out: Tensor = self.net((x - mean) / std)
        return out

    def forward(self, x: Tensor) -> Tensor:
        out = self.raw(x)
        return torch.sigmoid(out) if self.target == "direction" else out

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "target": self.target,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "columns": list(self.columns),
            "features": json.loads(self.feature_spec) if self.feature_spec else None,
        }
