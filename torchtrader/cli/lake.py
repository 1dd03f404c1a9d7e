"""``torchtrader lake version`` and ``torchtrader lake upgrade``: the lake's schema version and the
steps that bring an older lake up to date (``torchtrader.lake.migrations``)."""

from __future__ import annotations

import typer

from torchtrader.cli.common import settings_of, write_json

lake_app = typer.Typer(name="lake", help="The lake's schema version and upgrades.", no_args_is_help=True)


@lake_app.command("version")
def version_command(
    ctx: typer.Context,
    json_out: str | None = typer.Option(None, "--json", help="write the JSON document here ('-' = stdout)"),
) -> None:
    """Show the lake's schema version, the current one, and the upgrade steps pending."""
    from torchtrader.lake import Lake
    from torchtrader.lake.migrations import schema_status

    settings = settings_of(ctx)
    status = schema_status(Lake.from_settings(settings))
    if json_out:
        write_json(json_out, {"lake": settings.lake, **status.to_json()})
        if json_out == "-":
            return
    shown = "empty" if status.version is None else f"v{status.version}"
    how = "recorded" if status.recorded else "read off its layout"
    pending = ", ".join(f"v{v}" for v in status.pending)
    typer.echo(
        f"lake {settings.lake}: schema {shown} ({how}); current v{status.current}"
        + (f"; pending {pending}: run torchtrader lake upgrade" if pending else "")
    )


@lake_app.command("upgrade")
def upgrade_command(
    ctx: typer.Context,
    to: int | None = typer.Option(None, "--to", help="stop at this version (default: current)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the steps, change nothing"),
    json_out: str | None = typer.Option(None, "--json", help="write the JSON document here ('-' = stdout)"),
) -> None:
    """Run every schema step above the lake's version, one Delta commit per table."""
    from torchtrader.lake import Lake
    from torchtrader.lake.migrations import upgrade

    settings = settings_of(ctx)
    report = upgrade(Lake.from_settings(settings), to=to, dry_run=dry_run)
    if json_out:
        write_json(json_out, report.to_json())
        if json_out == "-":
            return
    start = "empty" if report.from_version is None else f"v{report.from_version}"
    if not report.applied:
        typer.echo(f"lake {report.lake}: at schema v{report.to_version} (was {start}); nothing to do")
        return
    verb = "would apply" if report.dry_run else "applied"
    typer.echo(f"lake {report.lake}: {start} → v{report.to_version}; {verb}:")
    for step in report.applied:
        typer.echo(f"  v{step['version']}: {step['description']}")


def register(app: typer.Typer) -> None:
    app.add_typer(lake_app, name="lake")
