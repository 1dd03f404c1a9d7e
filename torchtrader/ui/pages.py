"""Server-rendered pages: Overview, Bot, Research, Data, login; bot controls as confirmed forms."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from torchtrader.bots.ops import status
from torchtrader.ui import research
from torchtrader.ui.auth import UiError, clear_session_cookies, form_of, set_session_cookies
from torchtrader.ui.controls import ACTIONS, control
from torchtrader.ui.deps import LoggedIn, context
from torchtrader.ui.views import (
    TRADE_SORTS,
    Order,
    TradeSort,
    audit_rows,
    combined_equity,
    equity_curve,
    equity_figure,
    events_rows,
    fills_since,
    overview_rows,
    pnl_figure,
    require_bot,
    trades_page,
)

router = APIRouter(include_in_schema=False)
CONFIRM_LABELS = {
    "halt": "Halt the bot and cancel its open orders",
    "flatten": "Halt, cancel open orders and sell every position at market",
    "resume": "Let the bot trade again",
    "force_exit": "Sell this position at market now",
}


def render(
    request: Request,
    template: str,
    values: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request, template, values, status_code=status_code, headers=headers
    )
    return response


def login_page(request: Request, *, status_code: int = 200, message: str | None = None) -> Response:
    target = request.url.path if request.method == "GET" and request.url.path != "/login" else "/"
    return render(
        request, "login.html", {"who": None, "message": message, "next": target}, status_code=status_code
    )


def error_page(
    request: Request, status_code: int, reason: str, *, headers: dict[str, str] | None = None
) -> Response:
    return render(
        request,
        "error.html",
        {"who": None, "status": status_code, "reason": reason},
        status_code=status_code,
        headers=headers,
    )


def _safe_next(target: str) -> str:
    # Only paths on this site: an open redirect would let a link send a fresh login elsewhere.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login")
def login_form(request: Request) -> Response:
    return login_page(request)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    from torchtrader.ui.api import login_user

    form = await form_of(request)
    try:
        tokens = login_user(request, form.get("username", ""), form.get("password", ""))
    except UiError as error:
        if error.status == 503:
            raise
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        response = render(
            request,
            "login.html",
            {"who": None, "message": error.reason, "next": form.get("next", "/")},
            status_code=error.status,
            headers=headers,
        )
        return response
    response = RedirectResponse(_safe_next(form.get("next", "/")), status_code=303)
    set_session_cookies(response, context(request).ui, tokens)
    return response


@router.post("/logout")
def logout(request: Request, who: LoggedIn) -> Response:
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response)
    return response


@router.get("/")
def overview_page(request: Request, who: LoggedIn) -> Response:
    store = context(request).store()
    rows = overview_rows(store)
    figure = combined_equity(store, [r["name"] for r in rows])
    return render(
        request, "overview.html", {"who": who, "rows": rows, "figure": figure.to_json(), "page": "overview"}
    )


@router.get("/bots/{name}")
def bot_page(
    request: Request,
    name: str,
    who: LoggedIn,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 50,
    sort: TradeSort = "ts",
    order: Order = "desc",
    done: str | None = None,
) -> Response:
    ctx = context(request)
    store = ctx.store()
    require_bot(store, name)
    info = store.require_bot(name)
    doc = status(store, name)
    trades, total = trades_page(store, name, page=page, size=size, sort=sort, order=order)
    curve = equity_curve(store, name, 2000)
    from torchtrader.ui.charts import candle_figure

    candles, candle_note = candle_figure(ctx, info.config, lambda since: fills_since(store, name, since))
    values = {
        "who": who,
        "page": "bot",
        "bot": doc,
        "info": info,
        "trades": trades,
        "total": total,
        "pages": max(1, -(-total // size)),
        "query": {"page": page, "size": size, "sort": sort, "order": order},
        "sorts": TRADE_SORTS,
        "equity": equity_figure(curve).to_json(),
        "pnl": {k: f.to_json() for k, f in pnl_figure(curve, info.capital).items()},
        "candles": candles.to_json() if candles else None,
        "candle_note": candle_note,
        "events": list(reversed(events_rows(store, name, limit=100))),
        "audit": list(reversed(audit_rows(store, name))),
        "confirm": CONFIRM_LABELS,
        "done": done if done in ACTIONS else None,
    }
    return render(request, "bot.html", values)


@router.post("/bots/{name}/control")
async def bot_control(request: Request, name: str, who: LoggedIn) -> Response:
    form = await form_of(request)
    action = form.get("action", "")
    if action not in ACTIONS:
        raise UiError(422, f"action {action!r}: use one of {', '.join(ACTIONS)}")
    if not who.user.is_admin:
        raise UiError(403, f"user {who.user.name!r} is a viewer: bot controls need the admin role")
    if form.get("confirm") != "yes":
        raise UiError(422, f"{action} was not confirmed: tick the confirmation box and submit again")
    ctx = context(request)
    control(ctx.ui.core, ctx.store(), who.user, name, action, form.get("symbol") or None)
    return RedirectResponse(f"/bots/{quote(name)}?done={action}", status_code=303)


@router.get("/bots/{name}/explain")
def explain_page(request: Request, name: str, who: LoggedIn) -> Response:
    document = research.explain(context(request), name)
    return render(request, "explain.html", {"who": who, "page": "bot", "name": name, "doc": document})


@router.get("/research")
def research_page(
    request: Request, who: LoggedIn, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Response:
    ctx = context(request)
    found = research.runs(ctx, limit=limit)
    registry = research.models(ctx)
    return render(
        request,
        "research.html",
        {
            "who": who,
            "page": "research",
            "runs": found,
            "models": registry,
            "mlflow_ui": ctx.ui.mlflow_ui_url,
        },
    )


@router.get("/research/runs/{run_id}")
def run_page(request: Request, run_id: str, who: LoggedIn) -> Response:
    document = research.lake_run(context(request), run_id)
    figure = research.run_figure(document)
    return render(
        request, "run.html", {"who": who, "page": "research", "doc": document, "figure": figure.to_json()}
    )


@router.get("/data")
def data_page(request: Request, who: LoggedIn) -> Response:
    ctx = context(request)
    docs = ctx.ui.data_docs_dir
    has_docs = bool(docs) and (Path(docs or "") / "index.html").is_file()
    return render(
        request,
        "data.html",
        {
            "who": who,
            "page": "data",
            "lake": research.lake_summary(ctx),
            "series": research.series(ctx),
            "gaps": research.gaps(ctx),
            "has_docs": has_docs,
            "docs_dir": docs,
        },
    )


@router.get("/data/docs/{path:path}")
def data_docs(request: Request, path: str, who: LoggedIn) -> FileResponse:
    folder = context(request).ui.data_docs_dir
    if not folder:
        raise UiError(
            404,
            "no Data Docs folder configured: build them with `torchtrader data docs` "
            "and start `torchtrader ui --data-docs DIR`",
        )
    root = Path(folder).resolve()
    target = (root / (path or "index.html")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise UiError(404, f"no Data Docs file {path!r}")
    return FileResponse(target)
