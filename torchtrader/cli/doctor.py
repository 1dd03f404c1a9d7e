"""`torchtrader doctor [--json]`: versions, GPU, lake, disk, MLflow, Prefect, Dask, Ray, state store and
bots — each failing check with the command that fixes it. Exit 1 when any check fails."""

from __future__ import annotations

import typer

from torchtrader.cli.common import settings_of, write_json


def doctor_command(
    ctx: typer.Context,
    json_out: str | None = typer.Option(None, "--json", help="write the report JSON to OUT ('-' = stdout)"),
) -> None:
    """Check the installation and every service the settings name."""
    from rich.console import Console
    from rich.table import Table

    from torchtrader.ops.doctor import run_checks
    from torchtrader.ops.doctor_state import state_checks

    report = run_checks(settings_of(ctx), extra=state_checks())
    if json_out is not None:
        write_json(json_out, report.to_json())
    if json_out != "-":
        table = Table(title="torchtrader doctor")
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column)
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        for check in report.checks:
            status = f"[{colours[check.status]}]{check.status}[/]"
            table.add_row(check.name, status, check.detail, check.fix or "")
        Console().print(table)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
