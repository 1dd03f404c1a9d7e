"""`torchtrader tune`: Ray Tune searches (grid, random, Bayesian) of a strategy, tracked in MLflow.

Every tune is an MLflow parent run (each Tune trial nested under it) unless ``--no-track``. ``--json OUT``
writes the result document (``-`` = stdout); without it a summary table is printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import parse_when, settings_of, write_json

if TYPE_CHECKING:
    from torchtrader.optimize.tune import TuneResult

_SHOWN = ("total_return", "sharpe", "sortino", "calmar", "max_drawdown", "n_trades", "objective")


def tune_command(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s", help="series to tune on, e.g. SPX or BTC/USDT"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    strategy: str = typer.Option(..., "--strategy", help="built-in name, user strategy name or file.py"),
    space: list[str] = typer.Option(
        [],
        "--space",
        help="name=low:high[:step][:log] or name=v1,v2 (repeatable; default: the strategy's Search ranges)",
    ),
    search: str = typer.Option("grid", "--search", help="grid, random or bayes (Optuna TPE)"),
    samples: int | None = typer.Option(None, "--samples", help="evaluations for random/bayes (default 200)"),
    objective: str = typer.Option("sharpe", "--objective", help="sharpe, sortino, calmar or total_return"),
    min_trades: int = typer.Option(0, "--min-trades", help="combos with fewer trades never win"),
    drawdown_penalty: float = typer.Option(0.0, "--drawdown-penalty", help="objective -= k × max_drawdown"),
    turnover_penalty: float = typer.Option(0.0, "--turnover-penalty", help="objective -= k × trades/year"),
    start: str | None = typer.Option(None, "--start", help="first traded bar (ISO date/datetime, UTC)"),
    end: str | None = typer.Option(None, "--end", help="end of the range, exclusive (ISO, UTC)"),
    fee: float = typer.Option(0.0, "--fee", help="fee as a fraction of notional per fill"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps", help="slippage in basis points per fill"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto (GPU trials only if one exists)"),
    seed: int = typer.Option(0, "--seed", help="seed of random draws and of the TPE sampler"),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster (host:port, ray://..., auto); default: settings, else local"
    ),
    mlflow_uri: str | None = typer.Option(
        None, "--mlflow-uri", help="MLflow tracking URI (default: settings)"
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="MLflow experiment (default tune-STRATEGY)"
    ),
    track: bool = typer.Option(True, "--track/--no-track", help="record the tune in MLflow"),
    top: int = typer.Option(10, "--top", min=1, help="how many of the best combos to report"),
    json_out: str | None = typer.Option(None, "--json", help="write the result JSON to OUT ('-' = stdout)"),
) -> None:
    """Search a strategy's parameters with Ray Tune; each trial backtests a batch of combinations."""
    from torchtrader.backtest.runner import SeriesRef, make_config
    from torchtrader.lake import Lake
    from torchtrader.optimize.objectives import make_objective
    from torchtrader.optimize.tune import run_tune

    settings = settings_of(ctx)
    goal = make_objective(
        objective, min_trades=min_trades, drawdown_penalty=drawdown_penalty, turnover_penalty=turnover_penalty
    )
    config = make_config(fee=fee, slippage_bps=slippage_bps, device=device)
    result = run_tune(
        Lake.from_settings(settings),
        SeriesRef(symbol, timeframe, source),
        strategy,
        space,
        search=_search(search),
        samples=samples,
        objective=goal,
        config=config,
        seed=seed,
        start=parse_when(start, "--start"),
        end=parse_when(end, "--end"),
        ray_address=ray_address or settings.ray_address,
        tracking_uri=(mlflow_uri or settings.mlflow_uri) if track else None,
        experiment=experiment,
        strategies_dir=settings.strategies,
    )
    if json_out is not None:
        write_json(json_out, result.to_json(top=top))
    if json_out != "-":
        print_tune(result, top)


def _search(text: str) -> Any:
    from torchtrader.errors import ConfigError
    from torchtrader.optimize.space import SEARCHES

    if text not in SEARCHES:
        raise ConfigError(f"unknown --search {text!r}: use one of {', '.join(SEARCHES)}")
    return text


def print_tune(result: TuneResult, top: int) -> None:
    document = result.to_json(top=top)
    title = (
        f"{result.spec.strategy} on {result.spec.symbol} {result.spec.timeframe}: "
        f"{document['search']} search, "
        f"{document['n_evaluations']} evaluations in {document['n_trials']} trials, "
        f"{document['elapsed_s']:.1f} s, by {document['objective']}"
    )
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("params")
    for name in _SHOWN:
        table.add_column(name, justify="right")
    for rank, row in enumerate(document["top"], start=1):
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        table.add_row(str(rank), params, *(_fmt(row["metrics"].get(name)) for name in _SHOWN))
    console = Console()
    console.print(table)
    dsr = document["deflated_sharpe"] or {}
    console.print(f"deflated Sharpe ratio of the best: {_fmt(dsr.get('dsr'))} ({dsr.get('n_trials')} trials)")
    if document["run_id"]:
        console.print(f"MLflow run {document['run_id']} in experiment {document['experiment']}")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add the top-level ``tune`` command to the root app."""
    app.command("tune")(tune_command)
