"""`torchtrader train`, `torchtrader tune-model` and `torchtrader models list|promote`.

Models train on one lake series and are tracked in MLflow (``--mlflow-uri`` or the settings'
``mlflow_uri``). Heavy imports happen inside the commands so `torchtrader --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import typer

from torchtrader.cli.common import echo_json, settings_of, write_json
from torchtrader.errors import ConfigError

models_app = typer.Typer(
    name="models", help="Registered models: list versions, promote a champion.", no_args_is_help=True
)

_MLFLOW_URI = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI (default: settings)")


def _config(**values: Any) -> Any:
    import pydantic

    from torchtrader.models.training import TrainConfig

    given = {k: v for k, v in values.items() if v is not None}
    try:
        return TrainConfig(**given)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(
            f"invalid --{name.replace('_', '-')} {first.get('input')!r}: {first['msg']}"
        ) from None


def _features(path: str | None) -> Any:
    if path is None:
        return None
    from torchtrader.indicators.catalogue import load_feature_set

    return load_feature_set(path)


def train_command(
    ctx: typer.Context,
    model: str = typer.Option("lstm", "--model", help="lstm, tcn or transformer"),
    symbol: str = typer.Option(..., "--symbol", "-s"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    features: str | None = typer.Option(None, "--features", help="feature set TOML ([[feature]] tables)"),
    target: str = typer.Option("direction", "--target", help="direction (classification) or return"),
    horizon: int = typer.Option(1, "--horizon", help="bars ahead the label looks"),
    lookback: int = typer.Option(32, "--lookback", help="bars per input window"),
    epochs: int = typer.Option(20, "--epochs"),
    batch_size: int = typer.Option(64, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr"),
    hidden: int = typer.Option(32, "--hidden"),
    layers: int = typer.Option(1, "--layers"),
    dropout: float = typer.Option(0.0, "--dropout"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda"),
    register: str | None = typer.Option(None, "--register", help="register the model as NAME@challenger"),
    mlflow_uri: str | None = _MLFLOW_URI,
    json_out: str | None = typer.Option(None, "--json", help="write the result JSON to OUT ('-' = stdout)"),
) -> None:
    """Train a model on one series (time-ordered splits, purge gaps, early stopping) and log it."""
    from torchtrader.lake import Lake
    from torchtrader.models.pipeline import train_model

    settings = settings_of(ctx)
    config = _config(
        model=model, target=target, horizon=horizon, lookback=lookback, epochs=epochs, batch_size=batch_size,
        lr=lr, seed=seed, device=device, hidden=hidden, layers=layers, dropout=dropout,
    )  # fmt: skip
    feature_set = _features(features)
    report = train_model(
        Lake.from_settings(settings),
        symbol,
        config,
        tracking_uri=mlflow_uri or settings.mlflow_uri,
        timeframe=timeframe,
        source=source,
        features=feature_set,
        register_as=register,
    )
    document = report.to_json()
    if json_out is not None:
        write_json(json_out, document)
    if json_out != "-":
        test = " ".join(f"{k}={v:.4f}" for k, v in document["metrics"]["test"].items())
        registered = document["registered"]
        where = f" registered {registered['name']} v{registered['version']}@challenger" if registered else ""
        typer.echo(f"trained {model} on {symbol} {timeframe} ({report.device}): test {test}{where}")
        typer.echo(f"run {report.run_id}  model {report.model_uri}")


def tune_model_command(
    ctx: typer.Context,
    model: str = typer.Option("lstm", "--model", help="lstm, tcn or transformer"),
    symbol: str = typer.Option(..., "--symbol", "-s"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source"),
    features: str | None = typer.Option(None, "--features", help="feature set TOML"),
    target: str = typer.Option("direction", "--target"),
    horizon: int = typer.Option(1, "--horizon"),
    epochs: int = typer.Option(10, "--epochs", help="most epochs per trial (ASHA's max_t)"),
    batch_size: int = typer.Option(64, "--batch-size"),
    samples: int = typer.Option(8, "--samples", help="configurations to try"),
    scheduler: str = typer.Option("asha", "--scheduler", help="asha or fifo"),
    gpus_per_trial: float | None = typer.Option(None, "--gpus-per-trial", help="GPU share per trial"),
    lookbacks: str | None = typer.Option(None, "--lookbacks", help="lookback choices, e.g. 16,32,64"),
    hiddens: str | None = typer.Option(None, "--hiddens", help="hidden size choices, e.g. 16,32"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    register: str | None = typer.Option(None, "--register", help="register the best as NAME@challenger"),
    storage: str | None = typer.Option(
        None, "--storage", help="folder for the trials and their checkpoints (default: a temporary one)"
    ),
    resume: bool = typer.Option(
        False, "--resume", help="continue the interrupted run in --storage from its checkpoints"
    ),
    mlflow_uri: str | None = _MLFLOW_URI,
    json_out: str | None = typer.Option(None, "--json", help="write the result JSON to OUT ('-' = stdout)"),
) -> None:
    """Ray Tune over lookback, hidden size, layers, dropout and lr with ASHA; refit and log the best."""
    from torchtrader.lake import Lake
    from torchtrader.models.tune import tune_model

    settings = settings_of(ctx)
    config = _config(
        model=model, target=target, horizon=horizon, epochs=epochs, batch_size=batch_size, seed=seed,
        device=device, patience=epochs,
    )  # fmt: skip
    space: dict[str, list[Any]] = {}
    if lookbacks:
        space["lookback"] = _ints(lookbacks, "--lookbacks")
    if hiddens:
        space["hidden"] = _ints(hiddens, "--hiddens")
    report = tune_model(
        Lake.from_settings(settings),
        symbol,
        config,
        samples=samples,
        tracking_uri=mlflow_uri or settings.mlflow_uri,
        timeframe=timeframe,
        source=source,
        features=_features(features),
        scheduler=scheduler,
        gpus_per_trial=gpus_per_trial,
        space=space,
        register_as=register,
        ray_address=settings.ray_address,
        storage_path=storage,
        resume=resume,
    )
    document = report.to_json()
    if json_out is not None:
        write_json(json_out, document)
    if json_out != "-":
        typer.echo(
            f"best of {len(report.trials)} trials: {report.best_config} val_loss {report.best_val_loss:.5f}"
        )
        typer.echo(f"parent run {report.parent_run_id}  model {report.final.model_uri}")


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"bad {option} {text!r}: use comma-separated integers") from None
    if not values:
        raise ConfigError(f"bad {option} {text!r}: give at least one value")
    return values


@models_app.command("list")
def list_command(
    ctx: typer.Context,
    mlflow_uri: str | None = _MLFLOW_URI,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of lines"),
) -> None:
    """Registered models, their versions, aliases and out-of-sample metrics."""
    from torchtrader.models.registry import list_models

    rows = list_models(mlflow_uri or settings_of(ctx).mlflow_uri)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no registered models")
    for row in rows:
        typer.echo(row["name"])
        for version in row["versions"]:
            aliases = ",".join(version["aliases"]) or "-"
            test = " ".join(f"{k}={v:.4f}" for k, v in sorted(version["test"].items()))
            typer.echo(f"  v{version['version']}  [{aliases}]  {version['target']}  {test}")


@models_app.command("promote")
def promote_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name"),
    version: int = typer.Option(..., "--version", help="version to make champion"),
    mlflow_uri: str | None = _MLFLOW_URI,
) -> None:
    """Point the ``champion`` alias at VERSION of NAME."""
    from torchtrader.models.registry import promote

    done = promote(mlflow_uri or settings_of(ctx).mlflow_uri, name, version)
    typer.echo(f"{done.name} v{done.version} is now @{done.alias}")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``tune-model`` and the ``models`` group to the root app."""
    app.command("train")(train_command)
    app.command("tune-model")(tune_model_command)
    app.add_typer(models_app)
