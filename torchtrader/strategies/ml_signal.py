"""Built-in ``ml_signal``: positions from a registered model's predictions on causal features.

At each bar t the model sees the window of its feature rows ending at t (features from bars 0..t only:
the TA-Lib catalogue, recomputed here from the bars with the set the model was trained on) and predicts
P(up over the next ``horizon`` bars) for direction models, or the forward log return for return
models. The position is 1 when the prediction is above ``long_threshold``, -1 when below
``short_threshold``, 0 otherwise (and 0 until the features' warm-up plus the lookback have passed).

``short_threshold=0`` makes a direction model long-only.

``model`` names a registered model with an alias (``NAME@champion``, ``models:/NAME@challenger``), a
version (``models:/NAME/3``) or a run (``runs:/RUN_ID/model``); it is read from the MLflow tracking
URI of the settings (``TORCHTRADER_MLFLOW_URI``). Thresholds are probabilities for direction models
and log returns for return models. A sweep over thresholds predicts once per model and bar.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import model_validator

from torchtrader.errors import StrategyError
from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.models.nets import SignalModel
    from torchtrader.strategies.base import Bars, ParamBatch

logger = logging.getLogger(__name__)
_PREDICT_BATCH = 4096
_COLUMNS = ("open", "high", "low", "close", "volume")


class MlSignal(Strategy):
    """Long above ``long_threshold``, short below ``short_threshold``, flat between."""

    name = "ml_signal"
    description = "Positions from a registered PyTorch model's predictions (model=NAME@ALIAS or a run URI)."

    class Params(StrategyParams):
        model: str = ""
        long_threshold: Annotated[float, Search(0.5, 0.7, 0.05)] = 0.55
        short_threshold: Annotated[float, Search(0.3, 0.5, 0.05)] = 0.45

        @model_validator(mode="after")
        def _ordered(self) -> Self:
            if self.short_threshold > self.long_threshold:
                raise ValueError(
                    f"short_threshold ({self.short_threshold}) must be <= "
                    f"long_threshold ({self.long_threshold})"
                )
            return self

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        import torch

        references = p.labels.get("model", ("",) * p.size)
        out = torch.zeros((p.size, len(bars)), dtype=bars.dtype, device=bars.device)
        for reference in dict.fromkeys(references):
            rows = torch.tensor([i for i, r in enumerate(references) if r == reference], device=bars.device)
            prediction = bars.memo(("ml_signal", reference), functools.partial(predictions, bars, reference))
            long_at = p.long_threshold.index_select(0, rows).to(bars.dtype)[:, None]
            short_at = p.short_threshold.index_select(0, rows).to(bars.dtype)[:, None]
            valid = ~torch.isnan(prediction)[None, :]
            long_ = (prediction[None, :] > long_at) & valid
            short = (prediction[None, :] < short_at) & valid
            out[rows] = long_.to(bars.dtype) - short.to(bars.dtype)
        return out

    def warmup(self, params: StrategyParams) -> int:
        assert isinstance(params, self.Params)
        model = _load(params.model)
        return feature_warmup(model) + model.lookback


def _load(reference: str) -> SignalModel:
    if not reference:
        raise StrategyError("ml_signal needs a model: --param model=NAME@champion (or runs:/RUN_ID/model)")
    from torchtrader.config import load_settings
    from torchtrader.models.registry import load_signal_model

    return load_signal_model(load_settings().mlflow_uri, reference)


def feature_warmup(model: SignalModel) -> int:
    """Bars before the model's features are all defined (TA-Lib's own lookback of each function)."""
    from talib import abstract

    from torchtrader.indicators.catalogue import FeatureSet

    if not model.feature_spec:
        return 0
    spec = FeatureSet.model_validate_json(model.feature_spec)
    function_of = abstract.Function  # type: ignore[attr-defined]
    return max(int(function_of(f.function, **f.resolved_params).lookback) for f in spec.features)


def predictions(bars: Bars, reference: str) -> Tensor:
    """The model's prediction at every bar (NaN where its window is not yet full or not finite)."""
    import numpy as np
    import polars as pl
    import torch

    from torchtrader.indicators.catalogue import FeatureSet
    from torchtrader.models.data import feature_frame

    model = _load(reference)
    if not model.feature_spec:
        raise StrategyError(
            f"model {reference!r} was trained on custom features: ml_signal cannot rebuild them"
        )
    frame = pl.DataFrame(
        {
            "ts": pl.Series(bars.ts, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC")),
            **{c: getattr(bars, c).detach().cpu().double().numpy() for c in _COLUMNS},
        }
    )
    features = feature_frame(frame, FeatureSet.model_validate_json(model.feature_spec)).drop("ts")
    if tuple(features.columns) != tuple(model.columns):
        raise StrategyError(
            f"model {reference!r} expects features {model.columns}, rebuilt {features.columns}"
        )
    values = torch.from_numpy(
        np.column_stack([features[c].fill_null(float("nan")).to_numpy() for c in features.columns]).astype(
            np.float32
        )
    )
    result = torch.full((len(bars),), float("nan"), dtype=torch.float64)
    lookback = model.lookback
    if len(bars) >= lookback:
        # [T - L + 1, L, F]: window i ends at bar i + L - 1
        windows = values.unfold(0, lookback, 1).transpose(1, 2)
        complete = torch.isfinite(windows).flatten(1).all(dim=1)
        index = torch.nonzero(complete).squeeze(1)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(index), _PREDICT_BATCH):
                outputs.append(model(windows[index[start : start + _PREDICT_BATCH]]).double())
        if outputs:
            result[index + lookback - 1] = torch.cat(outputs)
    return result.to(device=bars.device, dtype=bars.dtype)


def describe_model(reference: str) -> dict[str, Any]:
    """What a reference resolves to (for messages and reports)."""
    return _load(reference).describe()
