"""`torchtrader ingest …`: load market data into the lake (validated, incremental, idempotent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from torchtrader.cli.common import echo_json, settings_of
from torchtrader.errors import ConfigError, TorchTraderError

if TYPE_CHECKING:
    from torchtrader.ingest import IngestReport

ingest_app = typer.Typer(help="Load market data into the lake.", no_args_is_help=True)

_SYMBOLS = typer.Option(None, "--symbol", "-s", help="symbol to ingest (repeatable)")
_TIMEFRAME = typer.Option("1d", "--timeframe", "-t", help="ccxt-style timeframe: 1m 1h 1d …")
_START = typer.Option(None, "--start", help="ISO date/datetime (UTC when naive)")
_END = typer.Option(None, "--end", help="ISO date/datetime, exclusive")
_JSON = typer.Option(False, "--json", help="print the reports as JSON")
_GX = typer.Option(
    None,
    "--gx/--no-gx",
    help="also cross-check with Great Expectations (default: only when already loaded or for 2M+ rows)",
)


def parse_when(value: str | None, option: str) -> datetime | None:
    """ISO-8601 date or datetime as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not an ISO-8601 date or datetime") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _print_reports(reports: Sequence[IngestReport], failures: dict[str, str], as_json: bool) -> None:
    if as_json:
        echo_json({"reports": [r.to_dict() for r in reports], "failures": failures})
        return
    table = Table(title="ingest")
    for column in (
        "source", "symbol", "timeframe", "fetched", "added", "quarantined", "new gaps", "last ts", "version",
    ):  # fmt: skip
        table.add_column(column)
    for r in reports:
        table.add_row(
            r.source,
            r.symbol,
            r.timeframe,
            str(r.rows_fetched),
            str(r.rows_added),
            str(r.rows_quarantined),
            str(sum(gap.missing_bars for gap in r.new_gaps)),
            r.last_ts.isoformat() if r.last_ts else "-",
            str(r.lake_version),
        )
    Console().print(table)
    for symbol, error in failures.items():
        typer.echo(f"error: {symbol}: {error}", err=True)


def _ingest_many(
    ctx: typer.Context,
    source_name: str,
    symbols: Sequence[str] | None,
    timeframe: str,
    start: str | None,
    end: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """One source, several symbols: a failing symbol is reported and the others still land."""
    # Imported here so `torchtrader --help` stays fast (the stack's imports take seconds).
    from torchtrader.ingest import ingest_source
    from torchtrader.lake import Lake
    from torchtrader.sources import get_source

    settings = settings_of(ctx)
    lake = Lake.from_settings(settings)
    source = get_source(source_name, **options)
    chosen = list(symbols) if symbols else source.symbols()
    begin, finish = parse_when(start, "--start"), parse_when(end, "--end")
    reports: list[IngestReport] = []
    failures: dict[str, str] = {}
    with Progress(transient=True, disable=as_json, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"ingest {source_name}", total=len(chosen))
        for symbol in chosen:
            try:
                reports.append(ingest_source(lake, source, symbol, timeframe, begin, finish))
            except TorchTraderError as error:
                failures[symbol] = str(error)
            progress.advance(task)
    _print_reports(reports, failures, as_json)
    if failures:
        raise typer.Exit(1)


@ingest_app.command("csv")
def ingest_csv_command(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ...,
        help="CSV with a header: timestamp|date, open, high, low, close, volume (or a Binance kline dump)",
    ),
    symbol: str = typer.Option(..., "--symbol", "-s"),
    timeframe: str = _TIMEFRAME,
    quarantine_invalid: bool = typer.Option(
        False, "--quarantine-invalid", help="ingest the valid rows and quarantine the rest"
    ),
    gx: bool | None = _GX,
    as_json: bool = _JSON,
) -> None:
    """Import a CSV file: all-or-nothing unless --quarantine-invalid."""
    from torchtrader.ingest import ingest_csv
    from torchtrader.lake import Lake

    lake = Lake.from_settings(settings_of(ctx))
    report = ingest_csv(
        lake, path, symbol=symbol, timeframe=timeframe, quarantine_invalid=quarantine_invalid, gx=gx
    )
    _print_reports([report], {}, as_json)


@ingest_app.command("binance-dump")
def ingest_binance_dump_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., help="kline .csv/.zip files from data.binance.vision, or folders"
    ),
    symbol: str = typer.Option(..., "--symbol", "-s", help="ccxt-style symbol, e.g. BTC/USDT"),
    timeframe: str = typer.Option(..., "--timeframe", "-t", help="the files' interval, e.g. 1m"),
    as_source: str = typer.Option(
        "binance-dump", "--as-source", help="series source to file the bars under (ccxt: continue with ccxt)"
    ),
    gx: bool | None = _GX,
    as_json: bool = _JSON,
) -> None:
    """Backfill from Binance public-data kline dumps (every file checked before the first write)."""
    from torchtrader.ingest import ingest_binance_dump
    from torchtrader.lake import Lake

    lake = Lake.from_settings(settings_of(ctx))
    report = ingest_binance_dump(lake, paths, symbol=symbol, timeframe=timeframe, source=as_source, gx=gx)
    _print_reports([report], {}, as_json)


@ingest_app.command("actions")
def ingest_actions_command(
    ctx: typer.Context,
    symbols: list[str] = _SYMBOLS,
    source: str = typer.Option("yfinance", "--source", help="yfinance or alphavantage"),
    as_json: bool = _JSON,
) -> None:
    """Splits and dividends into the corporate_actions table (reads adjust with them; default split)."""
    from torchtrader.ingest import ingest_actions
    from torchtrader.lake import Lake

    settings = settings_of(ctx)
    lake = Lake.from_settings(settings)
    counts = {s: ingest_actions(lake, source, s, key=settings.alphavantage_key) for s in symbols or []}
    if as_json:
        echo_json(counts)
        return
    for symbol, count in counts.items():
        typer.echo(f"{symbol}: {count} corporate actions stored")


@ingest_app.command("sample")
def ingest_sample(ctx: typer.Context, symbols: list[str] | None = _SYMBOLS, as_json: bool = _JSON) -> None:
    """Real daily S&P 500 and NASDAQ bars 1999–2018, shipped offline in the `arch` package."""
    _ingest_many(ctx, "sample", symbols, "1d", None, None, as_json)


@ingest_app.command("synthetic")
def ingest_synthetic(
    ctx: typer.Context,
    symbols: list[str] | None = _SYMBOLS,
    timeframe: str = typer.Option("1h", "--timeframe", "-t"),
    start: str | None = _START,
    end: str | None = _END,
    seed: int = typer.Option(7, "--seed", help="same seed, same bars"),
    as_json: bool = _JSON,
) -> None:
    """Seeded crypto-like intraday bars (offline, deterministic)."""
    _ingest_many(ctx, "synthetic", symbols, timeframe, start, end, as_json, seed=seed)


@ingest_app.command("yfinance")
def ingest_yfinance(
    ctx: typer.Context,
    symbols: list[str] = _SYMBOLS,
    timeframe: str = _TIMEFRAME,
    start: str | None = _START,
    end: str | None = _END,
    as_json: bool = _JSON,
) -> None:
    """Yahoo Finance bars through yfinance (needs internet)."""
    _ingest_many(ctx, "yfinance", symbols, timeframe, start, end, as_json)


@ingest_app.command("alphavantage")
def ingest_alphavantage(
    ctx: typer.Context,
    symbols: list[str] = _SYMBOLS,
    timeframe: str = _TIMEFRAME,
    start: str | None = _START,
    end: str | None = _END,
    as_json: bool = _JSON,
) -> None:
    """Alpha Vantage bars; the key comes from TORCHTRADER_ALPHAVANTAGE_KEY or ALPHAVANTAGE_API_KEY."""
    key = settings_of(ctx).alphavantage_key
    options: dict[str, Any] = {"key": key} if key else {}
    _ingest_many(ctx, "alphavantage", symbols, timeframe, start, end, as_json, **options)


@ingest_app.command("ccxt")
def ingest_ccxt(
    ctx: typer.Context,
    symbols: list[str] = _SYMBOLS,
    exchange: str = typer.Option("binance", "--exchange", help="any ccxt exchange id"),
    timeframe: str = typer.Option("1h", "--timeframe", "-t"),
    start: str | None = _START,
    end: str | None = _END,
    api_url: str | None = typer.Option(None, "--api-url", help="REST base URL override (testnets, loopback)"),
    as_json: bool = _JSON,
) -> None:
    """Exchange candles through ccxt, paginated and rate-limited."""
    options: dict[str, Any] = {"exchange": exchange}
    if api_url:
        options["api_url"] = api_url
    _ingest_many(ctx, "ccxt", symbols, timeframe, start, end, as_json, **options)


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
