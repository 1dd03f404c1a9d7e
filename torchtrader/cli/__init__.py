"""The ``torchtrader`` command line (typer).

Each command group lives in its own module with a ``register(app)`` function; this module owns the
global options and turns every ``TorchTraderError`` into one line on stderr and exit code 1.
"""

from __future__ import annotations

import typer

from torchtrader.cli import (
    backtest,
    bot,
    data,
    doctor,
    ingest,
    runs,
    services,
    strategy,
    tune,
    ui,
    walkforward,
)
from torchtrader.cli import lake as lake_cli
from torchtrader.cli import models as models_cli
from torchtrader.cli.common import CliState
from torchtrader.errors import TorchTraderError

app = typer.Typer(
    name="torchtrader",
    help="Torch Trader: market-data lake, indicators, batched backtests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    lake: str | None = typer.Option(
        None, "--lake", envvar="TORCHTRADER_LAKE", help="lake root: a path or an s3:// URI"
    ),
    strategies_dir: str | None = typer.Option(
        None,
        "--strategies-dir",
        envvar="TORCHTRADER_STRATEGIES",
        help="folder of user strategy files",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress to stderr"),
    log_json: bool = typer.Option(
        False, "--log-json", envvar="TORCHTRADER_LOG_JSON", help="log as JSON lines (one object per record)"
    ),
) -> None:
    from torchtrader.ops.logging_setup import configure_logging

    configure_logging(verbose=verbose, json_lines=log_json)
    from torchtrader.config import load_settings  # pydantic-settings: not needed for --help

    ctx.obj = CliState(settings=load_settings(lake=lake, strategies=strategies_dir))


_COMMAND_GROUPS = (
    ingest,
    data,
    strategy,
    backtest,
    walkforward,
    doctor,
    tune,
    runs,
    bot,
    services,
    models_cli,
    ui,
)
for _module in _COMMAND_GROUPS:
    _module.register(app)
lake_cli.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; ``argv`` lets tests run the real error handling in-process."""
    try:
        app(args=argv, prog_name="torchtrader")
    except TorchTraderError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None
