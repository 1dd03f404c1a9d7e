"""Read-side documents of the dashboard, built from the state store.

Single-bot documents reuse ``torchtrader.bots.ops`` (``status``, the ``trades`` row shape) so the API
answers exactly what ``torchtrader bot status/trades --json`` print; pages and paging add only what a
screen needs (per-period P&L, downsampled curves, sorted pages computed in SQL).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import String, func, select, type_coerce

from torchtrader.bots.ops import status
from torchtrader.bots.store import FillRecord, StateStore
from torchtrader.bots.store import models as m
from torchtrader.ui.auth import UiError

# Events that mean something needs a look (fills and strategy changes are news, not alerts).
ALERT_KINDS = ("order_rejected", "ambiguous", "halt", "discrepancy", "error")
TRADE_SORTS = ("ts", "symbol", "side", "qty", "price", "fee")
# The ``bot trades --json`` row: a FillRecord without bot and recorded_at.
TRADE_KEYS = tuple(f.name for f in fields(FillRecord) if f.name not in ("bot", "recorded_at"))
TradeSort = Literal["ts", "symbol", "side", "qty", "price", "fee"]
Order = Literal["asc", "desc"]
Period = Literal["day", "week", "month"]
CHART_POINTS = 600
OVERVIEW_POINTS = 300  # per bot: 20 bots stay a light page
T = TypeVar("T")


def require_bot(store: StateStore, name: str) -> None:
    if store.bot(name) is None:
        raise UiError(404, f"bot {name!r} is not in the state DB: check the name on the overview page")


def day_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def overview_rows(store: StateStore, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per bot: its ``bot status`` document plus P&L today/total, last cycle, alert count."""
    now = now or datetime.now(UTC)
    today = day_start(now)
    with store.session() as s:
        alerts = dict(
            s.execute(
                select(m.EventRow.bot, func.count())
                .where(m.EventRow.kind.in_(ALERT_KINDS), m.EventRow.ts >= now - timedelta(days=1))
                .group_by(m.EventRow.bot)
            ).all()
        )
        first_today = (
            select(m.EquityRow.bot, func.min(m.EquityRow.ts).label("ts"))
            .where(m.EquityRow.ts >= today)
            .group_by(m.EquityRow.bot)
            .subquery()
        )
        opening = dict(
            s.execute(
                select(m.EquityRow.bot, m.EquityRow.equity).join(
                    first_today, (m.EquityRow.bot == first_today.c.bot) & (m.EquityRow.ts == first_today.c.ts)
                )
            ).all()
        )
    rows = []
    for info in store.bots():
        doc = status(store, info.name)
        doc["pnl_today"] = doc["equity"] - opening[info.name] if info.name in opening else 0.0
        doc["pnl_total"] = doc["equity"] - info.capital
        doc["capital"] = info.capital
        doc["state_reason"] = info.state_reason
        doc["alerts_24h"] = int(alerts.get(info.name, 0))
        rows.append(doc)
    return rows


def trades_page(
    store: StateStore, name: str, *, page: int, size: int, sort: TradeSort = "ts", order: Order = "asc"
) -> tuple[list[dict[str, Any]], int]:
    """One page of the bot's fills (the ``bot trades --json`` row shape) and the total count."""
    require_bot(store, name)
    column = getattr(m.FillRow, sort)
    tie = m.FillRow.id.desc() if order == "desc" else m.FillRow.id.asc()
    ordering = [column.desc() if order == "desc" else column.asc(), tie]
    columns = [getattr(m.FillRow, key) for key in TRADE_KEYS]
    with store.session() as s:
        total = int(s.scalar(select(func.count()).select_from(m.FillRow).where(m.FillRow.bot == name)) or 0)
        found = s.execute(
            select(*columns)
            .where(m.FillRow.bot == name)
            .order_by(*ordering)
            .limit(size)
            .offset((page - 1) * size)
        ).all()
    rows = [dict(zip(TRADE_KEYS, row, strict=True)) for row in found]
    for row in rows:
        row["ts"] = row["ts"].isoformat()
    return rows, total


def equity_rows(store: StateStore, name: str) -> list[dict[str, Any]]:
    require_bot(store, name)
    return [{k: v for k, v in p.to_json().items() if k != "bot"} for p in store.equity(name)]


def events_rows(store: StateStore, name: str, *, limit: int) -> list[dict[str, Any]]:
    require_bot(store, name)
    return [{k: v for k, v in e.to_json().items() if k != "bot"} for e in store.events(name, limit=limit)]


def audit_rows(store: StateStore, name: str, *, limit: int = 50) -> list[dict[str, Any]]:
    return store.audit(name)[-limit:]


def downsample(points: list[tuple[T, float]], limit: int = CHART_POINTS) -> list[tuple[T, float]]:
    """At most ``limit`` points, always keeping the last (the chart must end at the current value)."""
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def equity_curve(store: StateStore, name: str, limit: int | None = None) -> list[tuple[datetime, float]]:
    """The bot's equity snapshots, oldest first; with ``limit``, every k-th one picked in SQL (and
    always the last) so a long-running bot's chart stays cheap."""
    if limit is None:
        with store.session() as s:
            query = (
                select(m.EquityRow.ts, m.EquityRow.equity)
                .where(m.EquityRow.bot == name)
                .order_by(m.EquityRow.ts)
            )
            return [(ts, float(eq)) for ts, eq in s.execute(query)]
    numbered = (
        select(
            m.EquityRow.ts,
            m.EquityRow.equity,
            func.row_number().over(order_by=m.EquityRow.ts).label("rn"),
            func.count().over().label("n"),
        )
        .where(m.EquityRow.bot == name)
        .subquery()
    )
    step = func.max(1, numbered.c.n / limit)
    picked = select(numbered.c.ts, numbered.c.equity).where(
        ((numbered.c.rn - 1) % step == 0) | (numbered.c.rn == numbered.c.n)
    )
    with store.session() as s:
        return [(ts, float(eq)) for ts, eq in s.execute(picked.order_by(numbered.c.ts))]


def drawdown(curve: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    peak = float("-inf")
    out = []
    for ts, equity in curve:
        peak = max(peak, equity)
        out.append((ts, equity / peak - 1.0 if peak > 0 else 0.0))
    return out


def period_start(ts: datetime, period: Period) -> datetime:
    day = day_start(ts)
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def pnl_bars(curve: list[tuple[datetime, float]], capital: float, period: Period) -> list[dict[str, Any]]:
    """P&L per calendar period (UTC): the period's last equity minus the previous period's last
    (the first period starts from the bot's capital)."""
    closes: dict[datetime, float] = {}
    for ts, equity in curve:
        closes[period_start(ts, period)] = equity
    out, previous = [], capital
    for start, close in closes.items():
        out.append({"period": start.date().isoformat(), "pnl": close - previous})
        previous = close
    return out


@dataclass(frozen=True)
class Figure:
    """A plotly figure as plain data (rendered by plotly.js in the page)."""

    data: list[dict[str, Any]]
    layout: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data, "layout": self.layout}


def _xy(points: list[tuple[datetime, float]]) -> tuple[list[str], list[float]]:
    return [t.isoformat() for t, _ in points], [v for _, v in points]


def layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "autosize": True,
        **extra,
    }


def combined_equity(store: StateStore, names: list[str]) -> Figure:
    """Every bot's equity curve; times are read as stored text (naive UTC, which plotly takes as
    is) because converting tens of thousands of datetimes would cost most of the page."""
    traces = []
    with store.session() as s:
        for name in names:
            query = (
                select(type_coerce(m.EquityRow.ts, String), m.EquityRow.equity)
                .where(m.EquityRow.bot == name)
                .order_by(m.EquityRow.ts)
            )
            raw: list[tuple[str, float]] = [(str(ts), float(eq)) for ts, eq in s.execute(query)]
            points = downsample(raw, OVERVIEW_POINTS)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": name,
                    "x": [t for t, _ in points],
                    "y": [v for _, v in points],
                }
            )
    return Figure(traces, layout("Equity (UTC)", legend={"orientation": "h"}))


def equity_figure(curve: list[tuple[datetime, float]]) -> Figure:
    x, y = _xy(downsample(curve))
    dx, dy = _xy(downsample(drawdown(curve)))
    return Figure(
        [
            {"type": "scatter", "mode": "lines", "name": "equity", "x": x, "y": y},
            {
                "type": "scatter",
                "mode": "lines",
                "name": "drawdown",
                "x": dx,
                "y": dy,
                "yaxis": "y2",
                "fill": "tozeroy",
            },
        ],
        layout(
            "Equity and drawdown",
            yaxis={"title": {"text": "equity"}, "domain": [0.35, 1]},
            yaxis2={"title": {"text": "drawdown"}, "domain": [0, 0.28], "tickformat": ".1%"},
            legend={"orientation": "h"},
        ),
    )


def pnl_figure(curve: list[tuple[datetime, float]], capital: float) -> dict[str, Figure]:
    figures = {}
    for period in ("day", "week", "month"):
        bars = pnl_bars(curve, capital, period)
        values = [b["pnl"] for b in bars]
        colours = ["#2a9d4b" if v >= 0 else "#c0392b" for v in values]
        figures[period] = Figure(
            [
                {
                    "type": "bar",
                    "name": f"P&L per {period}",
                    "x": [b["period"] for b in bars],
                    "y": values,
                    "marker": {"color": colours},
                }
            ],
            layout(f"P&L per {period}"),
        )
    return figures


def fills_since(store: StateStore, name: str, since: datetime, limit: int = 2000) -> list[FillRecord]:
    """The bot's fills at or after ``since`` (the chart's window), at most ``limit``."""
    with store.session() as s:
        rows = s.scalars(
            select(m.FillRow)
            .where(m.FillRow.bot == name, m.FillRow.ts >= since)
            .order_by(m.FillRow.ts)
            .limit(limit)
        )
        return [FillRecord(**{f.name: getattr(r, f.name) for f in fields(FillRecord)}) for r in rows]
