"""``/api/v1``: JSON in the shapes of the CLI's ``--json`` outputs, the login endpoints and the
bot controls (admin, CSRF-safe), with OpenAPI docs behind the same login."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from torchtrader.bots.ops import status
from torchtrader.ui import research
from torchtrader.ui.auth import REFRESH_COOKIE, UiError, client_address, decode, issue_tokens
from torchtrader.ui.controls import control
from torchtrader.ui.deps import Admin, LoggedIn, context
from torchtrader.ui.users import authenticate, get_user
from torchtrader.ui.views import (
    Order,
    TradeSort,
    equity_rows,
    events_rows,
    overview_rows,
    require_bot,
    trades_page,
)

router = APIRouter(prefix="/api/v1")


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024, repr=False)


class Refresh(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str | None = Field(default=None, repr=False)


class Exit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=32)


def login_user(request: Request, username: str, password: str) -> dict[str, Any]:
    """Check the throttle, then the password; a failure counts against user and address."""
    ctx = context(request)
    address = client_address(request)
    ctx.throttle.check(username, address)
    user = authenticate(ctx.store(), username, password)
    if user is None:
        ctx.throttle.failed(username, address)
        raise UiError(401, "wrong user name or password")
    ctx.throttle.succeeded(username)
    return issue_tokens(ctx.ui, user)


@router.post("/auth/login", summary="Log in: access token (short-lived) and refresh token")
def api_login(request: Request, body: Login) -> dict[str, Any]:
    tokens = login_user(request, body.username, body.password)
    return {k: v for k, v in tokens.items() if k != "csrf"}


@router.post("/auth/refresh", summary="A new token pair for a valid refresh token")
def api_refresh(request: Request, body: Refresh) -> dict[str, Any]:
    ctx = context(request)
    token = body.refresh_token or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise UiError(401, "log in first: no refresh token")
    claims = decode(ctx.ui, token, "refresh")
    user = get_user(ctx.store(), str(claims["sub"]))
    if user is None or user.token_version != claims.get("ver"):
        raise UiError(401, "refresh token no longer valid: log in again")
    return {k: v for k, v in issue_tokens(ctx.ui, user).items() if k != "csrf"}


@router.get("/me", summary="Who is logged in")
def me(who: LoggedIn) -> dict[str, Any]:
    return who.user.to_json()


@router.get("/bots", summary="Every bot's `bot status --json` document")
def bots(request: Request, who: LoggedIn) -> list[dict[str, Any]]:
    store = context(request).store()
    return [status(store, b.name) for b in store.bots()]


@router.get("/overview", summary="Every bot with P&L today/total and alerts of the last 24 h")
def overview(request: Request, who: LoggedIn) -> list[dict[str, Any]]:
    return overview_rows(context(request).store())


@router.get("/bots/{name}", summary="`bot status NAME --json`")
def bot_status(request: Request, name: str, who: LoggedIn) -> dict[str, Any]:
    store = context(request).store()
    require_bot(store, name)
    return status(store, name)


@router.get("/bots/{name}/trades", summary="`bot trades NAME --json`, one page (X-Total-Count header)")
def bot_trades(
    request: Request,
    response: Response,
    name: str,
    who: LoggedIn,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 100,
    sort: TradeSort = "ts",
    order: Order = "asc",
) -> list[dict[str, Any]]:
    rows, total = trades_page(context(request).store(), name, page=page, size=size, sort=sort, order=order)
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.get("/bots/{name}/equity", summary="The bot's equity snapshots, oldest first")
def bot_equity(request: Request, name: str, who: LoggedIn) -> list[dict[str, Any]]:
    return equity_rows(context(request).store(), name)


@router.get("/bots/{name}/events", summary="The bot's latest events (fills, halts, errors…)")
def bot_events(
    request: Request, name: str, who: LoggedIn, limit: Annotated[int, Query(ge=1, le=5000)] = 200
) -> list[dict[str, Any]]:
    return events_rows(context(request).store(), name, limit=limit)


@router.get("/bots/{name}/audit", summary="Who did what to the bot, when")
def bot_audit(request: Request, name: str, who: LoggedIn) -> list[dict[str, Any]]:
    store = context(request).store()
    require_bot(store, name)
    return store.audit(name)


@router.get("/bots/{name}/explain", summary="`bot explain NAME --json`: live versus backtest, fill by fill")
def bot_explain(request: Request, name: str, who: LoggedIn) -> dict[str, Any]:
    return research.explain(context(request), name)


@router.post("/bots/{name}/halt", summary="Kill switch: halt and cancel open orders (admin)")
def bot_halt(request: Request, name: str, who: Admin) -> dict[str, Any]:
    ctx = context(request)
    return control(ctx.ui.core, ctx.store(), who.user, name, "halt")


@router.post("/bots/{name}/flatten", summary="Halt, cancel, and sell every position (admin)")
def bot_flatten(request: Request, name: str, who: Admin) -> dict[str, Any]:
    ctx = context(request)
    return control(ctx.ui.core, ctx.store(), who.user, name, "flatten")


@router.post("/bots/{name}/resume", summary="Let a halted bot trade again (admin)")
def bot_resume(request: Request, name: str, who: Admin) -> dict[str, Any]:
    ctx = context(request)
    return control(ctx.ui.core, ctx.store(), who.user, name, "resume")


@router.post("/bots/{name}/force-exit", summary="Sell one position at market now (admin)")
def bot_force_exit(request: Request, name: str, body: Exit, who: Admin) -> dict[str, Any]:
    ctx = context(request)
    return control(ctx.ui.core, ctx.store(), who.user, name, "force_exit", body.symbol)


@router.get("/runs", summary="Recent research runs: lake backtests and MLflow runs")
def runs(request: Request, who: LoggedIn, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    return research.runs(context(request), limit=limit)


@router.get("/runs/{run_id}", summary="One lake backtest run (metrics, lake version, config)")
def run(request: Request, run_id: str, who: LoggedIn) -> dict[str, Any]:
    return research.lake_run(context(request), run_id)


@router.get("/models", summary="Registered models with their aliases")
def models(request: Request, who: LoggedIn) -> dict[str, Any]:
    return research.models(context(request))


@router.get("/lake/series", summary="`data list --json`: every stored series with its last bar")
def lake_series(request: Request, who: LoggedIn) -> list[dict[str, Any]]:
    return research.series(context(request))


@router.get(
    "/lake/gaps", summary="`data gaps --json`: missing bars per series (timeframe and exchange calendar)"
)
def lake_gaps(request: Request, who: LoggedIn) -> list[dict[str, Any]]:
    return research.gaps(context(request))


@router.get("/lake/tables", summary="Lake tables, versions and quarantine counts by reason")
def lake_tables(request: Request, who: LoggedIn) -> dict[str, Any]:
    return research.lake_summary(context(request))


@router.get("/stream", summary="Server-sent events: every bot's state and equity, every few seconds")
async def stream(
    request: Request, who: LoggedIn, limit: Annotated[int | None, Query(ge=1)] = None
) -> StreamingResponse:
    ctx = context(request)

    async def events() -> AsyncIterator[str]:
        sent = 0
        while limit is None or sent < limit:
            if await request.is_disconnected():
                return
            rows = await asyncio.to_thread(overview_rows, ctx.store())
            brief = [
                {k: r[k] for k in ("name", "state", "equity", "pnl_today", "pnl_total", "alerts_24h")}
                | {"last_cycle_at": r["last_cycle"]["at"], "positions": len(r["positions"])}
                for r in rows
            ]
            yield f"event: bots\ndata: {json.dumps(brief)}\n\n"
            sent += 1
            if limit is None or sent < limit:
                await asyncio.sleep(ctx.ui.sse_interval_s)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
