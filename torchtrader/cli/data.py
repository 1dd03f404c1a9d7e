"""`torchtrader data …` and `torchtrader sql`: look into the lake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import echo_json, settings_of
from torchtrader.errors import ConfigError

if TYPE_CHECKING:
    from torchtrader.lake import Lake

data_app = typer.Typer(help="Inspect the lake.", no_args_is_help=True)


def _lake(ctx: typer.Context) -> Lake:
    # Imported here so `torchtrader --help` stays fast (the stack's imports take seconds).
    from torchtrader.lake import Lake

    return Lake.from_settings(settings_of(ctx))


def _rows_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in rows[0] if rows else ["series"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row.values()))
    return table


def _age(seconds: float) -> str:
    """A short human age: 45s, 12m, 5h, 3d."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@data_app.command("list")
def list_series(
    ctx: typer.Context,
    version: int | None = typer.Option(None, "--version", help="read this lake version"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One line per stored series: source, symbol, timeframe, rows, first, last, age of the last bar."""
    series = _lake(ctx).series(version=version)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "source": s.source,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
            "rows": s.rows,
            "first": s.first.isoformat(),
            "last": s.last.isoformat(),
            "age_s": round(max(0.0, (now - s.last).total_seconds()), 1),
        }
        for s in series
    ]
    if as_json:
        echo_json(rows)
        return
    shown = [{**{k: v for k, v in row.items() if k != "age_s"}, "age": _age(row["age_s"])} for row in rows]
    Console().print(_rows_table(shown, "lake series"))


@data_app.command("show")
def show_series(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    version: int | None = typer.Option(None, "--version", help="read this lake version"),
    tail: int = typer.Option(10, "--tail", min=0, help="how many of the latest bars to print"),
    adjust: str = typer.Option("split", "--adjust", help="split | total | none (corporate actions)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Summary and latest bars of one series."""
    lake = _lake(ctx)
    if adjust not in ("split", "total", "none"):
        raise ConfigError(f"--adjust {adjust!r}: use split, total or none")
    frame = lake.read_bars(symbol, timeframe, source=source, version=version, adjust=adjust)  # type: ignore[arg-type]
    latest = frame.tail(tail).select("ts", "open", "high", "low", "close", "volume")
    summary = {
        "source": frame["source"][0],
        "symbol": symbol,
        "timeframe": timeframe,
        "rows": len(frame),
        "first": frame["ts"][0].isoformat(),
        "last": frame["ts"][-1].isoformat(),
        "lake_version": version if version is not None else lake.version("bars"),
        "adjust": adjust,
        "bars": [{**row, "ts": row["ts"].isoformat()} for row in latest.iter_rows(named=True)],
    }
    if as_json:
        echo_json(summary)
        return
    console = Console()
    console.print({k: v for k, v in summary.items() if k != "bars"})
    console.print(_rows_table(latest.to_dicts(), f"{symbol} {timeframe}: last {len(latest)} bars"))


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


@data_app.command("resample")
def resample_command(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s"),
    from_timeframe: str = typer.Option(..., "--from", help="stored timeframe to aggregate, e.g. 1m"),
    to_timeframe: str = typer.Option(..., "--to", help="coarser timeframe to store, e.g. 1h"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Store coarser bars derived from finer ones as source resampled:<source> (UTC-aligned)."""
    from torchtrader.ingest import resample_series
    from torchtrader.lake.resample import check_resample

    check_resample(from_timeframe, to_timeframe)  # before the lake is even opened
    report = resample_series(_lake(ctx), symbol, from_timeframe, to_timeframe, source=source)
    if as_json:
        echo_json(report.to_dict())
        return
    Console().print(_rows_table([report.to_dict()], "resample"))


@data_app.command("gaps")
def gaps_command(
    ctx: typer.Context,
    symbol: str | None = typer.Option(None, "--symbol", "-s", help="only this symbol's series"),
    calendar: str = typer.Option(
        "auto", "--calendar", help="auto (XNYS for stocks, 24/7 for crypto), 24/7, or e.g. XNYS, XLON"
    ),
    version: int | None = typer.Option(None, "--version", help="read this lake version"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Missing bars per series, against its timeframe and (stocks) its exchange calendar."""
    from torchtrader.quality.gaps import series_gaps

    found = series_gaps(_lake(ctx), symbol=symbol, calendar=calendar, version=version)
    if as_json:
        echo_json([series.to_json() for series in found])
        return
    rows = [
        {
            "source": s.source,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
            "calendar": s.calendar,
            "gaps": len(s.gaps),
            "missing bars": s.missing_bars,
            "largest": max((g.missing_bars for g in s.gaps), default=0),
        }
        for s in found
    ]
    Console().print(_rows_table(rows, "gaps"))


@data_app.command("fresh")
def fresh_command(
    ctx: typer.Context,
    watchlist: Path = typer.Option(Path("deployments/watchlist.toml"), "--watchlist", help="watchlist TOML"),
    alert: bool = typer.Option(False, "--alert", help="send the watchlist's alert when a series is stale"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Age of every watched series; exit 1 when any is stale."""
    from torchtrader.watchlist import check_freshness, freshness, load_watchlist

    plan = load_watchlist(watchlist)
    lake = _lake(ctx)
    found = check_freshness(lake, plan) if alert else freshness(lake, plan)
    if as_json:
        echo_json([f.to_json() for f in found])
    else:
        rows = [
            {
                "entry": f.entry,
                "series": f"{f.source} {f.symbol} {f.timeframe}",
                "last": f.last_ts.isoformat() if f.last_ts else "never",
                "age": _age(f.age_s) if f.age_s is not None else "-",
                "stale": "STALE" if f.stale else "ok",
            }
            for f in found
        ]
        Console().print(_rows_table(rows, "freshness"))
    if any(f.stale for f in found):
        raise typer.Exit(1)


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
    Console().print(_rows_table(result.to_dicts(), "sql"))


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command("sql")(sql_command)
