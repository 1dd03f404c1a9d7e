"""CLI commands: ``strategy list``, ``strategy new NAME`` and the top-level ``lookahead`` check."""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

import typer

from torchtrader.cli.common import echo_json, settings_of
from torchtrader.errors import DataError

if TYPE_CHECKING:
    from torchtrader.config import Settings
    from torchtrader.strategies import Bars, Strategy

strategy_app = typer.Typer(help="List strategies and create new ones.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.add_typer(strategy_app, name="strategy")
    app.command("lookahead")(lookahead)


def describe(cls: type[Strategy], builtin: bool) -> dict[str, Any]:
    """A strategy as plain data: name, origin, description and each parameter's type/default/range."""
    space = cls.Params.search_space()
    parameters = []
    for name, field in cls.Params.model_fields.items():
        search = space.get(name)
        parameters.append(
            {
                "name": name,
                "type": _type_name(field.annotation),
                "default": field.default,
                "search": None
                if search is None
                else {"low": search.low, "high": search.high, "step": search.step, "log": search.log},
            }
        )
    doc = inspect.getdoc(cls) or ""
    return {
        "name": cls.name,
        "origin": "built-in" if builtin else inspect.getfile(cls),
        "description": cls.description or doc.split("\n", 1)[0],
        "parameters": parameters,
    }


@strategy_app.command("list")
def list_strategies(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Built-in and user strategies with their parameters, defaults and search ranges."""
    # Finding and describing strategies needs no torch (torchtrader.strategies.contract): fast.
    from torchtrader.strategies.loader import builtin_strategies, discover_strategies

    builtins = builtin_strategies()
    registry = discover_strategies(settings_of(ctx).strategies)
    rows = [describe(cls, name in builtins) for name, cls in sorted(registry.items())]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']}  [{row['origin']}]  {row['description']}")
        for param in row["parameters"]:
            search = param["search"]
            span = "" if search is None else f"  search {_number(search['low'])}..{_number(search['high'])}"
            if search is not None and search["step"] is not None:
                span += f" step {_number(search['step'])}"
            if search is not None and search["log"]:
                span += " (log)"
            typer.echo(f"    {param['name']}: {param['type']} = {param['default']}{span}")


@strategy_app.command("new")
def new_strategy(
    ctx: typer.Context, name: str = typer.Argument(..., help="snake_case strategy name")
) -> None:
    """Write a documented template NAME.py into the strategies folder."""
    from torchtrader.strategies.template import write_template

    path = write_template(name, settings_of(ctx).strategies)
    typer.echo(f"wrote {path}")
    typer.echo(f"check it with: torchtrader lookahead --strategy {name} --symbol SYMBOL")


def lookahead(
    ctx: typer.Context,
    strategy: str = typer.Option(..., "--strategy", "-s", help="strategy name, file.py or file.py:NAME"),
    symbol: str = typer.Option(..., "--symbol", help="symbol in the lake, e.g. SPX or BTC/USDT"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="lake source when a symbol has several"),
    param: list[str] = typer.Option([], "--param", "-p", help="parameter as name=value (repeatable)"),
    prefixes: int = typer.Option(50, "--prefixes", min=1, help="number of prefixes to compare"),
    seed: int = typer.Option(0, "--seed", help="seed for the random prefix lengths"),
) -> None:
    """Check that positions on prefixes of the bars equal the full-series positions (no lookahead).

    Exit 0 when they always match; otherwise exit 1 naming the strategy, the first bar that differs
    (index and timestamp) and the parameters.
    """
    from torchtrader.strategies import check_lookahead, load_strategy, parse_params

    settings = settings_of(ctx)
    cls = load_strategy(strategy, settings.strategies)
    params = parse_params(cls, param)
    bars = _read_bars(settings, symbol, timeframe, source)
    report = check_lookahead(cls(), bars, params, n_prefixes=prefixes, seed=seed)
    if not report.ok:
        typer.echo(f"error: {report.message()} ({symbol} {timeframe})", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"ok: {report.message()} ({symbol} {timeframe})")


def _read_bars(settings: Settings, symbol: str, timeframe: str, source: str | None) -> Bars:
    from torchtrader.lake import Lake
    from torchtrader.strategies import Bars

    frame = Lake.from_settings(settings).read_bars(symbol, timeframe, source=source)
    if frame.height == 0:
        raise DataError(f"no {timeframe} bars for {symbol} in the lake{_from(source)}: ingest them first")
    sources = frame["source"].unique().to_list() if "source" in frame.columns else []
    if len(sources) > 1:
        raise DataError(
            f"{symbol} {timeframe} has bars from several sources "
            f"({', '.join(sorted(sources))}): pass --source"
        )
    return Bars.from_frame(frame)


def _from(source: str | None) -> str:
    return f" from source {source}" if source else ""


def _number(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else str(value)


def _type_name(annotation: object) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation).replace("typing.", "")
