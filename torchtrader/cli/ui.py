"""``torchtrader ui`` (serve the dashboard) and ``torchtrader ui user add NAME --role admin|viewer``.

Binds 127.0.0.1 by default; any other address needs TLS (``--tls-cert``/``--tls-key``) or an
explicit ``--insecure``. Passwords come from a hidden prompt or ``--password-stdin``, never argv.
"""

from __future__ import annotations

import ipaddress
import sys

import typer

from torchtrader.cli.common import settings_of
from torchtrader.errors import ConfigError

ui_app = typer.Typer(name="ui", help="The web dashboard and REST API.", invoke_without_command=True)
user_app = typer.Typer(name="user", help="Dashboard users (stored in the state DB).", no_args_is_help=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tls_cert: str | None, tls_key: str | None, insecure: bool) -> None:
    """Refuse a non-loopback address without TLS or ``--insecure``; TLS needs both files."""
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("--tls-cert and --tls-key go together: give both files or neither")
    if not is_loopback(host) and not tls_cert and not insecure:
        raise ConfigError(
            f"--host {host} is not a loopback address: serve it over TLS (--tls-cert/--tls-key) "
            "or pass --insecure if a TLS proxy sits in front"
        )


@ui_app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind"),
    port: int = typer.Option(8050, "--port", min=0, max=65535),
    insecure: bool = typer.Option(False, "--insecure", help="allow a non-loopback address without TLS"),
    tls_cert: str | None = typer.Option(None, "--tls-cert", help="PEM certificate file"),
    tls_key: str | None = typer.Option(None, "--tls-key", help="PEM private key file"),
    mlflow_ui: str | None = typer.Option(None, "--mlflow-ui", help="MLflow UI base URL for run links"),
    data_docs: str | None = typer.Option(None, "--data-docs", help="folder of `torchtrader data docs` HTML"),
) -> None:
    """Serve the dashboard (pages and /api/v1) until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    check_bind(host, tls_cert, tls_key, insecure)
    import uvicorn

    from torchtrader.ui import create_app, load_ui_settings

    ui = load_ui_settings(
        settings_of(ctx), secure_cookies=bool(tls_cert), mlflow_ui_url=mlflow_ui, data_docs_dir=data_docs
    )
    uvicorn.run(
        create_app(ui),
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level="info",
        access_log=False,  # query strings and paths only, but keep logs to what we choose to log
        proxy_headers=False,
    )


@user_app.command("add")
def add_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="user name"),
    role: str = typer.Option(..., "--role", help="admin (may control bots) or viewer"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
    replace: bool = typer.Option(False, "--replace", help="set a new password/role for an existing user"),
) -> None:
    """Create a dashboard user (argon2-hashed password in the state DB)."""
    from torchtrader.bots.store import StateStore
    from torchtrader.ui.users import add_user, check_new_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    check_new_user(name, role, password)
    store = StateStore(settings_of(ctx).state_db)
    try:
        user = add_user(store, name, role, password, replace=replace)
    finally:
        store.close()
    typer.echo(f"user {user.name} ({user.role}) saved")


@user_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Dashboard users and their roles."""
    from torchtrader.bots.store import StateStore
    from torchtrader.ui.users import list_users

    store = StateStore(settings_of(ctx).state_db)
    try:
        for user in list_users(store):
            typer.echo(f"{user.name:<24} {user.role}")
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    ui_app.add_typer(user_app, name="user")
    app.add_typer(ui_app, name="ui")
