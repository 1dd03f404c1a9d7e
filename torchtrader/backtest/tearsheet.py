"""Plotly HTML tearsheet of one backtest: a single self-contained file that opens offline.

Sections (each a plotly figure in a div with a fixed id, so tests and users can find them):
``tearsheet-equity`` (equity and drawdown, with the buy-and-hold benchmark of the same bars as a
second line, scaled to the initial cash), ``tearsheet-price`` (close with entry/exit markers),
``tearsheet-monthly`` (monthly returns heatmap) and ``tearsheet-trades`` (the trade list).
plotly.js is embedded once, at the top, so the page needs no network.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from torchtrader.backtest.results import BacktestResult, json_float
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars

logger = logging.getLogger(__name__)

SECTION_IDS = ("tearsheet-equity", "tearsheet-price", "tearsheet-monthly", "tearsheet-trades")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def write_tearsheet(result: BacktestResult, bars: pl.DataFrame | Bars, path: Path | str) -> Path:
    """Write the tearsheet of ``result`` (priced on ``bars``) to ``path``; returns the path written."""
    target = Path(path)
    prices = _price_frame(bars)
    figures = [
        (SECTION_IDS[0], equity_figure(result, prices)),
        (SECTION_IDS[1], price_figure(result, prices)),
        (SECTION_IDS[2], monthly_returns_figure(result)),
        (SECTION_IDS[3], trades_figure(result)),
    ]
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id, default_height="480px")
        for i, (div_id, fig) in enumerate(figures)
    ]
    title = f"{result.strategy} on {result.symbol} {result.timeframe}"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:1.5em} table.m td{padding:2px 12px}</style>",
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            _summary_html(result),
            *parts,
            "</body></html>",
        ]
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)  # a reader never sees a half-written page
    logger.info("tearsheet written to %s", target)
    return target


def _price_frame(bars: pl.DataFrame | Bars) -> pl.DataFrame:
    if isinstance(bars, Bars):
        ts = pl.Series("ts", np.asarray(bars.ts, dtype=np.int64) // 1000).cast(pl.Datetime("us"))
        return pl.DataFrame(
            {"ts": ts.dt.replace_time_zone("UTC"), "close": bars.close.cpu().double().numpy()}
        )
    missing = {"ts", "close"} - set(bars.columns)
    if missing:
        raise BacktestError(f"tearsheet bars frame lacks columns {sorted(missing)}")
    return bars.select("ts", "close").sort("ts")


def _summary_html(result: BacktestResult) -> str:
    metrics = result.metrics.to_dict()
    rows = [("final equity", result.final_equity), *metrics.items()]
    cells = "".join(f"<tr><td>{html.escape(name)}</td><td>{_fmt(value)}</td></tr>" for name, value in rows)
    if result.benchmark is not None:
        line = " · ".join(f"{name} {_fmt(value)}" for name, value in vars(result.benchmark).items())
        cells += f"<tr><td>buy &amp; hold</td><td>{html.escape(line)}</td></tr>"
    params = html.escape(", ".join(f"{k}={v}" for k, v in result.params.items()))
    meta = html.escape(
        f"engine {result.engine} · lake version {result.lake_version} · code {result.code_version}"
    )
    return f"<p>params: {params}</p><p>{meta}</p><table class='m'>{cells}</table>"


def _fmt(value: float | int) -> str:
    number = json_float(value)
    if number is None:
        return "n/a"
    return str(number) if isinstance(number, int) else f"{number:,.6g}"


def benchmark_curve(result: BacktestResult, prices: pl.DataFrame) -> pl.DataFrame:
    """Buy-and-hold of ``prices`` on the result's bars: initial cash × close / first close (ts, equity)."""
    closes = prices.select(pl.col("ts").cast(pl.Datetime("us", "UTC")), "close")
    joined = result.equity.select("ts").join(closes, on="ts", how="inner").sort("ts")
    if joined.is_empty():
        return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "equity": pl.Float64})
    first = float(joined["close"][0])
    return joined.select("ts", (pl.col("close") / first * result.config.initial_cash).alias("equity"))


def equity_figure(result: BacktestResult, prices: pl.DataFrame | None = None) -> go.Figure:
    equity = result.equity.sort("ts")
    values = equity["equity"].to_numpy()
    peak = np.maximum.accumulate(values) if len(values) else values
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, values / peak - 1.0, 0.0)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    # numpy arrays, not Python lists: plotly validates and deep-copies lists element by element, which
    # costs seconds on an hourly curve (the tracked tune's tearsheet); the page shows the same points.
    ts = equity["ts"].to_numpy()
    fig.add_trace(go.Scatter(x=ts, y=values, name="equity", mode="lines"), row=1, col=1)
    if prices is not None:
        bench = benchmark_curve(result, prices)
        fig.add_trace(
            go.Scatter(
                x=bench["ts"].to_numpy(),
                y=bench["equity"].to_numpy(),
                name="buy & hold",
                mode="lines",
                line={"color": "grey", "dash": "dot"},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=ts, y=drawdown, name="drawdown", mode="lines", fill="tozeroy", line={"color": "crimson"}
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(title="Equity and drawdown", showlegend=True)
    return fig


def price_figure(result: BacktestResult, prices: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=prices["ts"].to_numpy(), y=prices["close"].to_numpy(), name="close", mode="lines")
    )
    trades = result.trades
    for side, symbol, colour in (("long", "triangle-up", "green"), ("short", "triangle-down", "red")):
        chosen = [t for t in trades if t.side == side]
        if chosen:
            fig.add_trace(
                go.Scatter(
                    x=[t.entry_time for t in chosen],
                    y=[t.entry_price for t in chosen],
                    name=f"{side} entry",
                    mode="markers",
                    marker={"symbol": symbol, "color": colour, "size": 10},
                )
            )
    if trades:
        fig.add_trace(
            go.Scatter(
                x=[t.exit_time for t in trades],
                y=[t.exit_price for t in trades],
                name="exit",
                mode="markers",
                marker={"symbol": "x", "color": "black", "size": 9},
                text=[t.exit_reason for t in trades],
            )
        )
    fig.update_layout(title="Price with entries and exits", yaxis_title="price")
    return fig


def monthly_returns(equity: pl.DataFrame) -> pl.DataFrame:
    """Compounded return per calendar month (UTC) from an equity curve: columns year, month, ret."""
    if equity.is_empty():
        return pl.DataFrame(schema={"year": pl.Int32, "month": pl.Int8, "ret": pl.Float64})
    month_end = (
        equity.sort("ts")
        .group_by_dynamic("ts", every="1mo", label="left")
        .agg(pl.col("equity").last().alias("last"))
    )
    # A month's return is measured from the previous month's last equity (the first month from the start).
    first = float(equity.sort("ts")["equity"][0])
    return month_end.with_columns(
        (pl.col("last") / pl.col("last").shift(1).fill_null(first) - 1.0).alias("ret"),
        pl.col("ts").dt.year().alias("year"),
        pl.col("ts").dt.month().alias("month"),
    ).select("year", "month", "ret")


def monthly_returns_figure(result: BacktestResult) -> go.Figure:
    table = monthly_returns(result.equity)
    years = sorted(set(table["year"].to_list()))
    grid = np.full((len(years), 12), np.nan)
    for year, month, ret in table.iter_rows():
        grid[years.index(year), month - 1] = ret
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=list(_MONTHS),
            y=[str(y) for y in years],
            name="monthly returns",
            colorscale="RdYlGn",
            zmid=0.0,
            texttemplate="%{z:.1%}",
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig.update_layout(title="Monthly returns", yaxis={"autorange": "reversed"})
    return fig


def trades_figure(result: BacktestResult) -> go.Figure:
    frame = result.trades_frame()
    headers = [
        "entry_time",
        "exit_time",
        "side",
        "size",
        "entry_price",
        "exit_price",
        "pnl",
        "fees",
        "exit_reason",
    ]
    columns: list[list[str]] = []
    for name in headers:
        values = frame[name].to_list()
        if frame[name].dtype == pl.Float64:
            columns.append([f"{v:,.6g}" for v in values])
        else:
            columns.append([str(v) for v in values])
    fig = go.Figure(go.Table(name="trades", header={"values": headers}, cells={"values": columns}))
    fig.update_layout(title=f"Trades ({len(result.trades)})")
    return fig
