"""`torchtrader backtest` and `torchtrader sweep`: run strategies on lake data.

``--json OUT`` writes the result document to OUT (``-`` for stdout); without it a rich summary is
printed. Heavy imports happen inside the commands so `torchtrader --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import settings_of
from torchtrader.errors import ConfigError

if TYPE_CHECKING:
    from torchtrader.backtest.results import BacktestResult, SweepResult

_SUMMARY_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "n_trades")


def backtest_command(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s", help="series to test, e.g. SPX or BTC/USDT"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    strategy: str = typer.Option(..., "--strategy", help="built-in name, user strategy name or file.py"),
    param: list[str] = typer.Option([], "--param", "-p", help="strategy parameter name=value (repeatable)"),
    engine: str = typer.Option("vector", "--engine", help="vector (torch) or backtrader (the oracle)"),
    fee: float = typer.Option(0.0, "--fee", help="fee as a fraction of notional per fill"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps", help="slippage in basis points per fill"),
    stop_loss: float | None = typer.Option(None, "--stop-loss", help="stop-loss as a fraction of entry"),
    take_profit: float | None = typer.Option(None, "--take-profit", help="take-profit fraction of entry"),
    initial_cash: float | None = typer.Option(None, "--cash", help="initial cash (default 10000)"),
    json_out: str | None = typer.Option(None, "--json", help="write the result JSON to OUT ('-' = stdout)"),
    html_out: Path | None = typer.Option(None, "--html", help="write a plotly HTML tearsheet to OUT"),
    save: bool = typer.Option(False, "--save", help="persist the result to the lake (backtest_runs, ...)"),
) -> None:
    """Backtest one strategy with one parameter set on one series of the lake."""
    from torchtrader.backtest.runner import ENGINES, SeriesRef, make_config
    from torchtrader.backtest.runner import backtest as run
    from torchtrader.lake import Lake

    if engine not in ENGINES:
        raise ConfigError(f"unknown --engine {engine!r}: use one of {', '.join(ENGINES)}")
    settings = settings_of(ctx)
    config = make_config(
        fee=fee,
        slippage_bps=slippage_bps,
        stop_loss=stop_loss,
        take_profit=take_profit,
        initial_cash=initial_cash,
    )
    lake = Lake.from_settings(settings)
    series = SeriesRef(symbol, timeframe, source)
    result = run(lake, series, strategy, param, config, engine=engine, strategies_dir=settings.strategies)
    if html_out is not None:
        from torchtrader.backtest.runner import load_bars
        from torchtrader.backtest.tearsheet import write_tearsheet

        bars, _ = load_bars(lake, series, version=result.lake_version)
        write_tearsheet(result, bars, html_out)
    if save:
        from torchtrader.backtest.store import save_result

        run_id = save_result(lake, result)
        typer.echo(f"saved run {run_id}", err=True)
    if json_out is not None:
        _write_json(json_out, result.to_json())
    if json_out != "-":
        _print_backtest(result, html_out)


def sweep_command(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    strategy: str = typer.Option(..., "--strategy", help="built-in name, user strategy name or file.py"),
    grid: list[str] = typer.Option(
        [], "--grid", "-g", help="name=start:stop:step (stop inclusive) or name=v1,v2 (repeatable)"
    ),
    fee: float = typer.Option(0.0, "--fee"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
    stop_loss: float | None = typer.Option(None, "--stop-loss"),
    take_profit: float | None = typer.Option(None, "--take-profit"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto"),
    dtype: str = typer.Option("float64", "--dtype", help="float64 or float32"),
    top: int = typer.Option(10, "--top", min=1, help="how many of the best combos to report"),
    rank_by: str = typer.Option("sharpe", "--rank-by", help="metric that ranks the combos"),
    json_out: str | None = typer.Option(None, "--json", help="write the sweep JSON to OUT ('-' = stdout)"),
) -> None:
    """Backtest the Cartesian product of parameter grids in one batched pass; rank the combos."""
    from torchtrader.backtest.runner import SeriesRef, make_config, parse_grid
    from torchtrader.backtest.runner import sweep as run
    from torchtrader.lake import Lake

    if not grid:
        raise ConfigError("sweep needs at least one --grid name=start:stop:step")
    ranges = parse_grid(grid)
    settings = settings_of(ctx)
    config = make_config(
        fee=fee,
        slippage_bps=slippage_bps,
        stop_loss=stop_loss,
        take_profit=take_profit,
        device=device,
        dtype=dtype,
    )
    result = run(
        Lake.from_settings(settings),
        SeriesRef(symbol, timeframe, source),
        strategy,
        ranges,
        config,
        rank_by=rank_by,
        top_k=top,
        strategies_dir=settings.strategies,
    )
    if json_out is not None:
        _write_json(json_out, result.to_json(top=top))
    if json_out != "-":
        _print_sweep(result, top)


def _write_json(target: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, allow_nan=False)
    if target == "-":
        typer.echo(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def _print_backtest(result: BacktestResult, html_out: Path | None) -> None:
    table = Table(title=f"{result.strategy} on {result.symbol} {result.timeframe} ({result.engine})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("params", " ".join(f"{k}={v}" for k, v in result.params.items()) or "(defaults)")
    table.add_row("final_equity", _fmt(result.final_equity))
    for name, value in result.metrics.to_json().items():
        table.add_row(name, _fmt(value))
    table.add_row("lake_version", _fmt(result.lake_version))
    if html_out is not None:
        table.add_row("tearsheet", str(html_out))
    Console().print(table)


def _print_sweep(result: SweepResult, top: int) -> None:
    document = result.to_json(top=top)
    table = Table(
        title=f"{result.strategy} on {result.symbol} {result.timeframe}: best {len(document['top'])} "
        f"of {result.n_combos} combos by {result.rank_by}"
    )
    table.add_column("#", justify="right")
    table.add_column("params")
    for name in _SUMMARY_METRICS:
        table.add_column(name, justify="right")
    for rank, row in enumerate(document["top"], start=1):
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        table.add_row(str(rank), params, *(_fmt(row["metrics"][name]) for name in _SUMMARY_METRICS))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the top-level ``backtest`` and ``sweep`` commands to the root app."""
    app.command("backtest")(backtest_command)
    app.command("sweep")(sweep_command)
