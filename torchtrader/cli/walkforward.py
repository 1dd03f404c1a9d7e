"""`torchtrader walkforward`: search on rolling (or anchored) train spans, score on the test spans after.

``--json OUT`` writes the walk-forward document (``-`` for stdout); without it a table of the windows
and the stitched out-of-sample line are printed. Heavy imports happen inside the command.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import settings_of, write_json

_TABLE_METRICS = ("total_return", "sharpe", "max_drawdown", "n_trades")


def walkforward_command(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s", help="series to walk forward, e.g. SPX or BTC/USDT"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    source: str | None = typer.Option(None, "--source", help="needed when several sources hold SYMBOL"),
    strategy: str = typer.Option(..., "--strategy", help="built-in name, user strategy name or file.py"),
    train: str = typer.Option(..., "--train", help="train span per window: 30d, 12w, 6m (months), 2y"),
    test: str = typer.Option(..., "--test", help="test span per window (the spans tile the period)"),
    step: str | None = typer.Option(None, "--step", help="how far windows advance (must equal --test)"),
    anchored: bool = typer.Option(False, "--anchored", help="every train span starts at the data's start"),
    search: str = typer.Option("grid", "--search", help="grid (batched sweep), random or bayes (Ray Tune)"),
    grid: list[str] = typer.Option(
        [], "--grid", "--space", "-g", help="grid: name=start:stop:step or name=v1,v2; tune: name=low:high"
    ),
    samples: int = typer.Option(64, "--samples", help="evaluations per window for random/bayes"),
    objective: str = typer.Option("sharpe", "--objective", help="sharpe, sortino, calmar or total_return"),
    min_trades: int = typer.Option(0, "--min-trades", help="combos with fewer trades never win"),
    fee: float = typer.Option(0.0, "--fee", help="fee as a fraction of notional per fill"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps", help="slippage in basis points per fill"),
    seed: int = typer.Option(0, "--seed", help="seed of random/bayes searches and of PBO sampling"),
    experiment: str = typer.Option("walkforward", "--experiment", help="MLflow experiment name"),
    mlflow_uri: str | None = typer.Option(None, "--mlflow-uri", help="tracking URI (default: config)"),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster (default: config)"),
    json_out: str | None = typer.Option(None, "--json", help="write the result JSON to OUT ('-' = stdout)"),
) -> None:
    """Walk-forward optimisation with a stitched out-of-sample result, tracked in MLflow."""
    from torchtrader.backtest.runner import SeriesRef, make_config
    from torchtrader.lake import Lake
    from torchtrader.optimize.walkforward import walk_forward

    settings = settings_of(ctx)
    config = make_config(fee=fee, slippage_bps=slippage_bps)
    result = walk_forward(
        Lake.from_settings(settings),
        SeriesRef(symbol, timeframe, source),
        strategy,
        train=train,
        test=test,
        step=step,
        anchored=anchored,
        search=search,
        grid=grid,
        samples=samples,
        objective=objective,
        min_trades=min_trades,
        config=config,
        seed=seed,
        strategies_dir=settings.strategies,
        tracking_uri=mlflow_uri or settings.mlflow_uri,
        experiment=experiment,
        ray_address=ray_address or settings.ray_address,
    )
    document = result.to_json()
    if json_out is not None:
        write_json(json_out, document)
    if json_out != "-":
        _print(document, f"{result.strategy} walk-forward on {result.symbol} {result.timeframe}")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def _print(document: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    for column in ("test span", "params", *(f"oos {m}" for m in _TABLE_METRICS)):
        table.add_column(column)
    for w in document["windows"]:
        span = f"{w['test_start'][:10]} .. {w['test_end'][:10]}"
        params = " ".join(f"{k}={v}" for k, v in w["best_params"].items())
        table.add_row(span, params, *(_fmt(w["out_of_sample"][m]) for m in _TABLE_METRICS))
    Console().print(table)
    oos = document["oos"]
    typer.echo(
        "stitched out-of-sample: "
        + " ".join(f"{m}={_fmt(oos[m])}" for m in _TABLE_METRICS)
        + f"; in-sample sharpe (mean)={_fmt(document['is']['sharpe'])}; PBO={_fmt(document['pbo'])}"
        + f"; MLflow run {document['run_id']}"
    )


def register(app: typer.Typer) -> None:
    """Add the top-level ``walkforward`` command to the root app."""
    app.command("walkforward")(walkforward_command)
