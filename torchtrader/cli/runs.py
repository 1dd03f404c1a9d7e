"""`torchtrader runs list|show|reproduce`: the MLflow record of tunes, and re-running one exactly.

``reproduce`` reads the spec a tune recorded (``tune_spec.json``: series, strategy, space, search,
seed, lake version, warm-up, batch layout), checks the code (git commit, strategy file hash) against
what runs now, runs the tune again on the same lake version and reports whether the best parameters
and metrics are identical.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import echo_json, settings_of, write_json
from torchtrader.errors import ConfigError

runs_app = typer.Typer(help="Tracked runs (MLflow): list, show, reproduce.", no_args_is_help=True)

_MLFLOW_URI = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI (default: settings)")


def _client(ctx: typer.Context, uri: str | None) -> tuple[Any, str]:
    from mlflow import MlflowClient

    from torchtrader.tracking import check_tracking_uri

    tracking_uri = uri or settings_of(ctx).mlflow_uri
    check_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri), tracking_uri


def _run(client: Any, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise ConfigError(
            f"no MLflow run {run_id!r} in this tracking store: see `torchtrader runs list`"
        ) from None


def _summary(run: Any, experiment: str) -> dict[str, Any]:
    tags, metrics = run.data.tags, run.data.metrics
    return {
        "run_id": run.info.run_id,
        "experiment": experiment,
        "name": run.info.run_name,
        "status": run.info.status,
        "kind": tags.get("kind"),
        "strategy": tags.get("strategy"),
        "symbol": tags.get("symbol"),
        "search": tags.get("search"),
        "best_objective": metrics.get("best_objective"),
        "n_evaluations": metrics.get("n_evaluations"),
        "start_time": run.info.start_time,
        "failure_reason": tags.get("failure_reason"),
    }


@runs_app.command("list")
def list_command(
    ctx: typer.Context,
    experiment: str | None = typer.Option(None, "--experiment", help="only this experiment"),
    mlflow_uri: str | None = _MLFLOW_URI,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Top-level runs (tunes, walk-forwards, tracked sweeps), newest first; trials are nested in them."""
    from torchtrader.tracking import PARENT_TAG

    client, _ = _client(ctx, mlflow_uri)
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ConfigError(f"no MLflow experiment {experiment!r}: see `torchtrader runs list`")
        experiments = [found]
    else:
        experiments = client.search_experiments()
    names = {e.experiment_id: e.name for e in experiments}
    rows = []
    if names:
        runs = client.search_runs(list(names), order_by=["attributes.start_time DESC"], max_results=1000)
        rows = [_summary(r, names[r.info.experiment_id]) for r in runs if PARENT_TAG not in r.data.tags]
    if as_json:
        echo_json(rows)
        return
    table = Table(title=f"{len(rows)} run(s)")
    columns = ("run_id", "experiment", "status", "kind", "strategy", "symbol", "search", "best_objective")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
    Console().print(table)


@runs_app.command("show")
def show_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="MLflow run id"),
    mlflow_uri: str | None = _MLFLOW_URI,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a summary"),
) -> None:
    """One run: params, metrics, tags, artifacts and its nested trial runs."""
    from torchtrader.tracking import PARENT_TAG

    client, _ = _client(ctx, mlflow_uri)
    run = _run(client, run_id)
    experiment = client.get_experiment(run.info.experiment_id).name
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{run_id}'", max_results=10000
    )
    document = {
        **_summary(run, experiment),
        "end_time": run.info.end_time,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.log")},
        "artifacts": [a.path for a in client.list_artifacts(run_id)],
        "trials": [
            {"run_id": c.info.run_id, "name": c.info.run_name, "status": c.info.status, **c.data.metrics}
            for c in sorted(children, key=lambda c: c.info.run_name or "")
        ],
    }
    if as_json:
        echo_json(document)
        return
    console = Console()
    console.print(f"[bold]{document['name']}[/bold] {run_id} ({experiment}): {document['status']}")
    for section in ("params", "metrics", "tags"):
        table = Table(title=section)
        table.add_column("name")
        table.add_column("value")
        for key, value in sorted(document[section].items()):
            table.add_row(key, str(value))
        console.print(table)
    console.print(f"artifacts: {', '.join(document['artifacts']) or 'none'}")
    console.print(f"{len(document['trials'])} nested trial run(s)")


@runs_app.command("reproduce")
def reproduce_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="MLflow run id of a tune"),
    mlflow_uri: str | None = _MLFLOW_URI,
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster; default settings/local"),
    json_out: str | None = typer.Option(None, "--json", help="write the report JSON to OUT ('-' = stdout)"),
) -> None:
    """Re-run a tune from what it recorded; report whether the best parameters and metrics are identical."""
    from torchtrader.lake import Lake
    from torchtrader.optimize.reproduce import reproduce_tune

    client, tracking_uri = _client(ctx, mlflow_uri)
    run = _run(client, run_id)
    settings = settings_of(ctx)
    report = reproduce_tune(
        client,
        run,
        Lake.from_settings(settings),
        tracking_uri=tracking_uri,
        ray_address=ray_address or settings.ray_address,
    )
    if json_out is not None:
        write_json(json_out, report)
    if json_out != "-":
        verdict = "IDENTICAL" if report["identical"] else "DIFFERENT"
        console = Console()
        console.print(f"run {run_id} reproduced as {report['reproduced_run_id']}: {verdict}")
        console.print(f"code: recorded {report['code']['recorded']}, now {report['code']['current']}")
        for item in report["differences"]:
            console.print(
                f"  {item['field']}: recorded {item['recorded']!r}, reproduced {item['reproduced']!r}"
            )


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group to the root app."""
    app.add_typer(runs_app, name="runs")
