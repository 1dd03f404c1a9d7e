"""Generates the CLI reference (from the typer app itself, so it never drifts) and the API reference
pages (mkdocstrings directives) while `mkdocs build` runs (mkdocs-gen-files)."""

from __future__ import annotations

import click
import mkdocs_gen_files
import typer.main

from torchtrader.cli import app

# Library modules whose docstrings make the API reference, in reading order.
API_MODULES = (
    "torchtrader.config",
    "torchtrader.errors",
    "torchtrader.lake.core",
    "torchtrader.ingest",
    "torchtrader.strategies.base",
    "torchtrader.backtest.config",
    "torchtrader.backtest.runner",
    "torchtrader.backtest.results",
    "torchtrader.optimize.overfit",
    "torchtrader.bots.broker",
    "torchtrader.ops.doctor",
)


def _commands(group: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, group)]
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            found.extend(_commands(group.commands[name], (*path, name)))
    return found


def cli_reference() -> str:
    root = typer.main.get_command(app)
    lines = ["# CLI reference", "", "Generated from the typer app at build time: `torchtrader COMMAND --help`", ""]
    for path, command in _commands(root, ("torchtrader",)):
        if len(path) == 1:
            continue
        title = " ".join(path)
        ctx = click.Context(command, info_name=title)
        lines += [f"## `{title}`", "", "```text", command.get_help(ctx).replace("\x1b", ""), "```", ""]
    return "\n".join(lines)


def api_reference() -> str:
    lines = ["# API reference", "", "The library (`torchtrader/`), from its docstrings.", ""]
    for module in API_MODULES:
        lines += [f"::: {module}", ""]
    return "\n".join(lines)


with mkdocs_gen_files.open("reference/cli.md", "w") as handle:
    handle.write(cli_reference())
with mkdocs_gen_files.open("reference/api.md", "w") as handle:
    handle.write(api_reference())
