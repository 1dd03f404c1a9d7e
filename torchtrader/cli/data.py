"""`torchtrader data …` and `torchtrader sql`: look into the lake."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import echo_json, settings_of

if TYPE_CHECKING:
    from torchtrader.lake import Lake

data_app = typer.Typer(help="Inspect the lake.", no_args_is_help=True)


def _lake(ctx: typer.Context) -> Lake:
    # Imported here so `torchtrader --help` stays fast (the stack's imports take seconds).
    from torchtrader.lake import Lake

    return Lake.from_settings(settings_of(ctx))


def _frame_table(frame: pl.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(*("" if value is None else str(value) for value in row))
    return table


@data_app.command("list")
def list_series(
    ctx: typer.Context,
    version: int | None = typer.Option(None, "--version", help="read this lake version"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One line per stored series: source, symbol, timeframe, rows, first, last."""
    series = _lake(ctx).series(version=version)
    rows = [
        {
            "source": s.source,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
            "rows": s.rows,
            "first": s.first.isoformat(),
            "last": s.last.isoformat(),
        }
        for s in series
    ]
    if as_json:
        echo_json(rows)
        return
    frame = pl.DataFrame(rows) if rows else pl.DataFrame({"series": []})
    Console().print(_frame_table(frame, "lake series"))


@data_app.command("show")
def show_series(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    version: int | None = typer.Option(None, "--version", help="read this lake version"),
    tail: int = typer.Option(10, "--tail", min=0, help="how many of the latest bars to print"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Summary and latest bars of one series."""
    lake = _lake(ctx)
    frame = lake.read_bars(symbol, timeframe, source=source, version=version)
    latest = frame.tail(tail).select("ts", "open", "high", "low", "close", "volume")
    summary = {
        "source": frame["source"][0],
        "symbol": symbol,
        "timeframe": timeframe,
        "rows": len(frame),
        "first": frame["ts"][0].isoformat(),
        "last": frame["ts"][-1].isoformat(),
        "lake_version": version if version is not None else lake.version("bars"),
        "bars": [{**row, "ts": row["ts"].isoformat()} for row in latest.iter_rows(named=True)],
    }
    if as_json:
        echo_json(summary)
        return
    console = Console()
    console.print({k: v for k, v in summary.items() if k != "bars"})
    console.print(_frame_table(latest, f"{symbol} {timeframe}: last {len(latest)} bars"))


@data_app.command("docs")
def data_docs(
    ctx: typer.Context,
    out: Path = typer.Option(Path("reports/data_docs"), "--out", help="folder for the HTML"),
) -> None:
    """Validate every stored series with the Great Expectations suite and build Data Docs HTML."""
    from torchtrader.quality import build_data_docs

    lake = _lake(ctx)
    frames = [
        (f"{s.source}:{s.symbol}:{s.timeframe}", lake.read_bars(s.symbol, s.timeframe, source=s.source))
        for s in lake.series()
    ]
    index = build_data_docs(frames, out)
    typer.echo(str(index))


def sql_command(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="DuckDB SQL over the lake tables: bars, quarantine, features…"),
    version: int | None = typer.Option(None, "--version", help="query this lake version"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run SQL over the lake with DuckDB."""
    result = _lake(ctx).sql(query, version=version)
    if as_json:
        echo_json(result.to_dicts())
        return
    Console().print(_frame_table(result, "sql"))


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command("sql")(sql_command)
