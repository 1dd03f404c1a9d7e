"""The MLflow model registry for signal models: log, register as ``challenger``, promote to ``champion``.

Models are logged with ``mlflow.pytorch`` (pickle format, so the ``SignalModel`` keeps its feature set,
lookback and normalisation; a signature of ``[batch, lookback, features]`` float32 and an input
example). Each registered version carries its out-of-sample metrics as ``test_<metric>`` tags and its
``target``, so promotion compares versions without re-reading runs. A model reference is
``NAME@ALIAS``, ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN_ID/model``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from torchtrader.errors import ConfigError
from torchtrader.models.metrics import SELECTION_METRIC, beats
from torchtrader.models.nets import SignalModel

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
ARTIFACT = "model"
_LOADED: dict[tuple[str, str], SignalModel] = {}


@dataclass(frozen=True)
class Registered:
    name: str
    version: int
    alias: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Promotion:
    """What ``promote_on_merit`` decided, and on which numbers."""

    promoted: bool
    name: str
    challenger: int | None
    champion: int | None
    metric: str
    challenger_value: float | None
    champion_value: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _tracking(uri: str) -> Iterator[None]:
    """mlflow's fluent model functions read the global tracking URI: set it for the block only."""
    import mlflow

    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None  # type: ignore[no-untyped-call]
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if previous is None:
            mlflow.set_tracking_uri("")
        else:
            mlflow.set_tracking_uri(previous)


def _client(uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def log_signal_model(tracking_uri: str, run_id: str, model: SignalModel, example: torch.Tensor) -> str:
    """Log ``model`` as an output of run ``run_id``; returns its ``models:/m-...`` URI."""
    import mlflow.pytorch
    from mlflow.models import infer_signature

    model = model.cpu().eval()
    example = example[:2].cpu().float()
    with torch.no_grad():
        output = model(example).numpy()
    signature = infer_signature(example.numpy(), output)
    # MLflow would file the logged model under the *active* experiment (Default, ./mlruns in the cwd):
    # create it in the run's own experiment first, so its artifacts sit beside the run's.
    client = _client(tracking_uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(experiment_id, name=ARTIFACT, source_run_id=run_id)
    with _tracking(tracking_uri):
        info = mlflow.pytorch.log_model(
            model,
            model_id=logged.model_id,
            name=ARTIFACT,
            signature=signature,
            input_example=example.numpy(),
            serialization_format="pickle",
            # listed, not inferred: inference re-imports the model in a subprocess (seconds)
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            run_id=run_id,
        )
    return str(info.model_uri)  # models:/m-<id>, MLflow 3's logged-model URI (linked to the run)


def register(
    tracking_uri: str,
    name: str,
    model_uri: str,
    *,
    run_id: str,
    target: str,
    test_metrics: dict[str, float],
    alias: str = CHALLENGER,
) -> Registered:
    """A new version of ``name`` from ``model_uri`` with ``alias`` and its out-of-sample metrics."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    tags = {"target": target, **{f"test_{k}": repr(float(v)) for k, v in test_metrics.items()}}
    with _tracking(tracking_uri):  # the store resolves a models:/ source through the global URI
        version = client.create_model_version(name, model_uri, run_id=run_id, tags=tags)
    client.set_registered_model_alias(name, alias, version.version)
    logger.info("registered %s version %s as %s", name, version.version, alias)
    return Registered(name, int(version.version), alias)


def _metric(version: Any, name: str) -> float | None:
    text = version.tags.get(f"test_{name}")
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _version_by_alias(client: MlflowClient, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def list_models(tracking_uri: str) -> list[dict[str, Any]]:
    """Every registered model with its versions, aliases and out-of-sample metrics."""
    client = _client(tracking_uri)
    rows = []
    for model in client.search_registered_models():
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        versions = []
        found = client.search_model_versions(f"name='{model.name}'")
        for version in sorted(found, key=lambda v: int(v.version)):
            versions.append(
                {
                    "version": int(version.version),
                    "aliases": sorted(aliases.get(str(version.version), [])),
                    "run_id": version.run_id,
                    "target": version.tags.get("target"),
                    "test": {k[5:]: float(v) for k, v in version.tags.items() if k.startswith("test_")},
                }
            )
        rows.append({"name": model.name, "versions": versions})
    return rows


def promote(tracking_uri: str, name: str, version: int, alias: str = CHAMPION) -> Registered:
    """Point ``alias`` (default ``champion``) at ``version`` of ``name``; one-line errors otherwise."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        known = ", ".join(sorted(m.name for m in client.search_registered_models())) or "none"
        raise ConfigError(f"no registered model {name!r} (registered: {known})") from None
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        found = client.search_model_versions(f"name='{name}'")
        versions = ", ".join(sorted((v.version for v in found), key=int))
        raise ConfigError(f"model {name!r} has no version {version} (versions: {versions})") from None
    client.set_registered_model_alias(name, alias, str(version))
    return Registered(name, int(version), alias)


def promote_on_merit(tracking_uri: str, name: str) -> Promotion:
    """Make the challenger champion only when its out-of-sample selection metric beats the champion's
    (``log_loss`` for direction models, ``mse`` for return models; lower is better)."""
    client = _client(tracking_uri)
    challenger = _version_by_alias(client, name, CHALLENGER)
    champion = _version_by_alias(client, name, CHAMPION)
    if challenger is None:
        return Promotion(False, name, None, _num(champion), "", None, None, "no challenger")
    target = challenger.tags.get("target", "direction")
    metric = SELECTION_METRIC.get(target, ("log_loss", "min"))[0]
    mine = _metric(challenger, metric)
    theirs = _metric(champion, metric) if champion is not None else None
    if champion is not None and champion.version == challenger.version:
        same = "already champion"
        return Promotion(False, name, _num(challenger), _num(champion), metric, mine, theirs, same)
    mine_by = {metric: mine} if mine is not None else {}
    won = beats(target, mine_by, {metric: theirs} if theirs is not None else {})
    if won:
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
        reason = "no champion yet" if champion is None else f"{metric} {mine:.6g} beats {theirs:.6g}"
    else:
        reason = f"{metric} {mine} does not beat the champion's {theirs}"
    return Promotion(won, name, _num(challenger), _num(champion), metric, mine, theirs, reason)


def _num(version: Any | None) -> int | None:
    return None if version is None else int(version.version)


def resolve_reference(reference: str) -> str:
    """``NAME@ALIAS`` → ``models:/NAME@ALIAS``; ``models:/`` and ``runs:/`` URIs pass through."""
    text = reference.strip()
    if text.startswith(("models:/", "runs:/")):
        return text
    if "@" in text and text.index("@") > 0:
        return f"models:/{text}"
    raise ConfigError(
        f"model reference {reference!r}: use NAME@ALIAS (e.g. mymodel@champion), models:/NAME/VERSION "
        "or runs:/RUN_ID/model"
    )


def load_signal_model(tracking_uri: str, reference: str) -> SignalModel:
    """The model behind ``reference`` (aliases resolved now; loads cached per concrete version)."""
    import mlflow.pytorch
    from mlflow.exceptions import MlflowException

    uri = resolve_reference(reference)
    concrete = uri
    if uri.startswith("models:/") and "@" in uri:
        name, alias = uri.removeprefix("models:/").split("@", 1)
        found = _version_by_alias(_client(tracking_uri), name, alias)
        if found is None:
            raise ConfigError(
                f"model {name!r} has no alias {alias!r} in {tracking_uri}: train with --register {name} "
                f"or promote a version (torchtrader models promote {name} --version V)"
            )
        concrete = f"models:/{name}/{found.version}"
    elif uri.startswith("runs:/"):
        concrete = _logged_model_of_run(tracking_uri, uri)
    key = (tracking_uri, concrete)
    if key not in _LOADED:
        try:
            with _tracking(tracking_uri):
                loaded = mlflow.pytorch.load_model(concrete, map_location="cpu")
        except MlflowException as error:
            raise ConfigError(f"cannot load model {reference!r}: {str(error).splitlines()[0]}") from None
        if not isinstance(loaded, SignalModel):
            kind = type(loaded).__name__
            raise ConfigError(f"model {reference!r} is a {kind}, not a Torch Trader signal model")
        _LOADED[key] = loaded.eval()
    return _LOADED[key]


def _logged_model_of_run(tracking_uri: str, uri: str) -> str:
    """``runs:/RUN/NAME`` → the ``models:/m-...`` URI MLflow 3 stored the run's model under."""
    from mlflow.exceptions import MlflowException

    run_id, _, name = uri.removeprefix("runs:/").partition("/")
    client = _client(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"model {uri!r}: no MLflow run {run_id!r} in {tracking_uri}") from None
    for logged in client.search_logged_models(experiment_ids=[run.info.experiment_id]):
        if logged.source_run_id == run_id and logged.name == (name or ARTIFACT):
            return f"models:/{logged.model_id}"
    return uri


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
