"""`torchtrader backtest` and `torchtrader sweep`: run strategies on lake data.

``--json OUT`` writes the result document to OUT (``-`` for stdout); without it a rich summary is
printed. Heavy imports happen inside the commands so `torchtrader --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import parse_when, settings_of, write_json
from torchtrader.errors import ConfigError

if TYPE_CHECKING:
    from torchtrader.backtest.results import BacktestResult, SweepResult
    from torchtrader.lake.corporate_actions import Adjust

_ADJUST_HELP = "corporate actions applied to the lake bars: split (default), total (with dividends) or none"
_START_HELP = "first bar traded: ISO date/datetime, UTC (earlier bars only warm indicators up)"
_END_HELP = "end of the range, exclusive: ISO date/datetime, UTC (an open position closes at the last close)"
_FEES_IN_SIZING_HELP = "size entries so cost plus fee fits the equity (what a live bot can buy)"
_SUMMARY_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "n_trades")


def backtest_command(
    ctx: typer.Context,
    symbols: list[str] = typer.Option(
        ..., "--symbol", "-s", help="series to test, e.g. SPX or BTC/USDT; repeat for a portfolio"
    ),
    weights: str | None = typer.Option(
        None,
        "--weights",
        help="portfolio weights: 0.6,0.4 (in --symbol order) or SPX=0.6,IXIC=0.4; default equal",
    ),
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
    fees_in_sizing: bool = typer.Option(False, "--fees-in-sizing", help=_FEES_IN_SIZING_HELP),
    start: str | None = typer.Option(None, "--start", help=_START_HELP),
    end: str | None = typer.Option(None, "--end", help=_END_HELP),
    adjust: str = typer.Option("split", "--adjust", help=_ADJUST_HELP),
    json_out: str | None = typer.Option(None, "--json", help="write the result JSON to OUT ('-' = stdout)"),
    html_out: Path | None = typer.Option(None, "--html", help="write a plotly HTML tearsheet to OUT"),
    save: bool = typer.Option(False, "--save", help="persist the result to the lake (backtest_runs, ...)"),
) -> None:
    """Backtest one strategy with one parameter set on a series of the lake, or on several at once
    (a portfolio: shared cash, fixed weights, per-symbol breakdown)."""
    from torchtrader.backtest.runner import ENGINES, SeriesRef, make_config, parse_weights, portfolio_backtest
    from torchtrader.backtest.runner import backtest as run
    from torchtrader.lake import Lake

    if engine not in ENGINES:
        raise ConfigError(f"unknown --engine {engine!r}: use one of {', '.join(ENGINES)}")
    portfolio = len(symbols) > 1 or weights is not None
    if portfolio and engine != "vector":
        raise ConfigError("a portfolio (several --symbol or --weights) runs on --engine vector only")
    if portfolio and html_out is not None:
        raise ConfigError("--html draws one series: run it per --symbol, not on a portfolio")
    parsed_weights = parse_weights(weights, symbols)
    settings = settings_of(ctx)
    config = make_config(
        fee=fee,
        slippage_bps=slippage_bps,
        stop_loss=stop_loss,
        take_profit=take_profit,
        initial_cash=initial_cash,
        fees_in_sizing=fees_in_sizing,
    )
    begin, finish = parse_when(start, "--start"), parse_when(end, "--end")
    lake = Lake.from_settings(settings)
    result: BacktestResult
    if portfolio:
        result = portfolio_backtest(
            lake,
            [SeriesRef(symbol, timeframe, source, _adjust(adjust)) for symbol in symbols],
            strategy,
            param,
            parsed_weights,
            config,
            strategies_dir=settings.strategies,
            start=begin,
            end=finish,
        )
    else:
        result = run(
            lake,
            SeriesRef(symbols[0], timeframe, source, _adjust(adjust)),
            strategy,
            param,
            config,
            engine=engine,
            strategies_dir=settings.strategies,
            start=begin,
            end=finish,
        )
    if html_out is not None:
        from torchtrader.backtest.runner import tearsheet

        tearsheet(lake, result, html_out, source=source)
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
    fees_in_sizing: bool = typer.Option(False, "--fees-in-sizing", help=_FEES_IN_SIZING_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto"),
    dtype: str = typer.Option("float64", "--dtype", help="float64 or float32"),
    top: int = typer.Option(10, "--top", min=1, help="how many of the best combos to report"),
    rank_by: str = typer.Option("sharpe", "--rank-by", help="metric that ranks the combos"),
    start: str | None = typer.Option(None, "--start", help=_START_HELP),
    end: str | None = typer.Option(None, "--end", help=_END_HELP),
    adjust: str = typer.Option("split", "--adjust", help=_ADJUST_HELP),
    json_out: str | None = typer.Option(None, "--json", help="write the sweep JSON to OUT ('-' = stdout)"),
    pbo: bool = typer.Option(False, "--pbo", help="also report the probability of backtest overfitting"),
    track: bool = typer.Option(False, "--track", help="record the sweep as an MLflow run (see `runs`)"),
    experiment: str | None = typer.Option(
        None, "--experiment", help="MLflow experiment of --track (default sweep-STRATEGY)"
    ),
    mlflow_uri: str | None = typer.Option(None, "--mlflow-uri", help="tracking URI (default: settings)"),
) -> None:
    """Backtest the Cartesian product of parameter grids in one batched pass; rank the combos."""
    from torchtrader.backtest.runner import SeriesRef, make_config, parse_grid
    from torchtrader.backtest.runner import sweep as run
    from torchtrader.lake import Lake

    if not grid:
        raise ConfigError("sweep needs at least one --grid name=start:stop:step")
    ranges = parse_grid(grid)
    begin, finish = parse_when(start, "--start"), parse_when(end, "--end")
    settings = settings_of(ctx)
    config = make_config(
        fee=fee,
        slippage_bps=slippage_bps,
        stop_loss=stop_loss,
        take_profit=take_profit,
        device=device,
        dtype=dtype,
        fees_in_sizing=fees_in_sizing,
    )
    if track:
        from torchtrader.tracking.sweeps import SweepSpec, run_tracked_sweep

        spec = SweepSpec(
            symbol=symbol, timeframe=timeframe, source=source, adjust=_adjust(adjust), strategy=strategy,
            grid=ranges, config=config, rank_by=rank_by, top_k=top, start=begin, end=finish, pbo=pbo,
            strategies_dir=settings.strategies,
        )  # fmt: skip
        lake, uri = Lake.from_settings(settings), mlflow_uri or settings.mlflow_uri
        tracked = run_tracked_sweep(lake, spec, tracking_uri=uri, experiment=experiment)
        _emit_sweep(json_out, tracked.result, tracked.document, top)
        typer.echo(f"MLflow run {tracked.run_id} in experiment {tracked.experiment}", err=True)
        return
    result = run(
        Lake.from_settings(settings),
        SeriesRef(symbol, timeframe, source, _adjust(adjust)),
        strategy,
        ranges,
        config,
        rank_by=rank_by,
        top_k=top,
        strategies_dir=settings.strategies,
        start=begin,
        end=finish,
    )
    document = result.to_json(top=top)
    if pbo:
        from torchtrader.optimize.sweep_stats import sweep_pbo

        series = SeriesRef(symbol, timeframe, source, _adjust(adjust))
        lake = Lake.from_settings(settings)
        found = sweep_pbo(lake, series, strategy, result, config, strategies_dir=settings.strategies)
        document["pbo"] = found.to_json()
    _emit_sweep(json_out, result, document, top)


_write_json = write_json  # the shared ``--json OUT`` writer (torchtrader.cli.common)


def _emit_sweep(json_out: str | None, result: SweepResult, document: dict[str, Any], top: int) -> None:
    if json_out is not None:
        _write_json(json_out, document)
    if json_out != "-":
        _print_sweep(result, top)
        typer.echo(_overfit_line(document))


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
    if result.start is not None or result.end is not None:
        table.add_row("range", _range(result.start, result.end))
    if result.benchmark is not None:
        table.add_row("buy & hold", _benchmark_line(result.benchmark.to_json()))
    if html_out is not None:
        table.add_row("tearsheet", str(html_out))
    Console().print(table)
    breakdown = getattr(result, "breakdown", None)
    if breakdown is not None:
        _print_breakdown(breakdown())


def _print_breakdown(rows: dict[str, dict[str, float]]) -> None:
    table = Table(title="per symbol")
    table.add_column("symbol")
    names = list(next(iter(rows.values())))
    for name in names:
        table.add_column(name, justify="right")
    for symbol, row in rows.items():
        table.add_row(symbol, *(_fmt(row[name]) for name in names))
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
    if document.get("benchmark"):
        Console().print(f"buy & hold over the same bars: {_benchmark_line(document['benchmark'])}")


def _overfit_line(document: dict[str, Any]) -> str:
    """Deflated Sharpe of the best (and PBO when asked for): how much of the best is luck."""
    dsr = document.get("deflated_sharpe") or {}
    line = f"deflated Sharpe of the best: {_fmt(dsr.get('dsr'))} over {dsr.get('n_trials', 0)} trials"
    if "pbo" in document:
        line += f"; probability of backtest overfitting: {_fmt(document['pbo']['pbo'])}"
    return line


def _adjust(text: str) -> Adjust:
    from torchtrader.lake.corporate_actions import ADJUST_MODES

    if text not in ADJUST_MODES:
        raise ConfigError(f"unknown --adjust {text!r}: use one of {', '.join(ADJUST_MODES)}")
    return text  # type: ignore[return-value]


def _range(start: Any, end: Any) -> str:
    return f"[{start.isoformat() if start else '-inf'}, {end.isoformat() if end else '+inf'})"


def _benchmark_line(benchmark: dict[str, Any]) -> str:
    return " ".join(f"{name}={_fmt(value)}" for name, value in benchmark.items())


def register(app: typer.Typer) -> None:
    """Add the top-level ``backtest`` and ``sweep`` commands to the root app."""
    app.command("backtest")(backtest_command)
    app.command("sweep")(sweep_command)
