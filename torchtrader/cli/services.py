"""`torchtrader services up|down|status`: the local Prefect server + worker, MLflow server and dashboard
(what `make up` / `make down` call)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from torchtrader.cli.common import settings_of, write_json

services_app = typer.Typer(help="Local services on 127.0.0.1: Prefect server + worker, MLflow, dashboard.")

_HOME = typer.Option(
    Path(".services"), "--home", envvar="TORCHTRADER_SERVICES_HOME", help="state, logs and pid files"
)


@services_app.command("up")
def up_command(
    ctx: typer.Context,
    home: Path = _HOME,
    prefect_port: int = typer.Option(4200, "--prefect-port"),
    mlflow_port: int = typer.Option(5000, "--mlflow-port"),
    dashboard_port: int = typer.Option(8050, "--dashboard-port"),
    timeout: float = typer.Option(180.0, "--timeout", min=1.0, help="seconds to wait for each service"),
    json_out: str | None = typer.Option(None, "--json", help="write the status JSON to OUT ('-' = stdout)"),
) -> None:
    """Start what is not running yet and wait until each service is healthy (harmless when up)."""
    from torchtrader.ops import services

    ports = services.Ports(prefect_port, mlflow_port, dashboard_port)
    services.check_ports(ports)
    planned = services.plan(home, mlflow_uri=settings_of(ctx).mlflow_uri, ports=ports)
    states = services.up(home, planned, timeout_s=timeout)
    _report(states, json_out)
    if json_out != "-":
        api = f"http://{services.HOST}:{prefect_port}/api"
        typer.echo(f"\nPrefect UI: http://{services.HOST}:{prefect_port}  (export PREFECT_API_URL={api})")
        typer.echo(f"MLflow UI:  http://{services.HOST}:{mlflow_port}  (export TORCHTRADER_MLFLOW_URI=...)")
        typer.echo("deploy:     make deploy   stop: make down")


@services_app.command("down")
def down_command(home: Path = _HOME) -> None:
    """Stop exactly the services `up` started (by pid), nothing else."""
    from torchtrader.ops import services

    stopped = services.down(home)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
def status_command(
    ctx: typer.Context,
    home: Path = _HOME,
    json_out: str | None = typer.Option(None, "--json", help="write the status JSON to OUT ('-' = stdout)"),
) -> None:
    """Which services run, their pids, URLs and logs."""
    from torchtrader.ops import services

    _report(services.status(home, services.plan(home, mlflow_uri=settings_of(ctx).mlflow_uri)), json_out)


def _report(states: Sequence[object], json_out: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from torchtrader.ops.services import ServiceState

    rows = [state for state in states if isinstance(state, ServiceState)]
    if json_out is not None:
        write_json(json_out, {"services": [state.to_json() for state in rows]})
    if json_out == "-":
        return
    table = Table(title="local services")
    for column in ("service", "running", "pid", "url", "log"):
        table.add_column(column)
    for state in rows:
        table.add_row(
            state.name, "yes" if state.running else "no", str(state.pid or ""), state.url or "", state.log
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")
