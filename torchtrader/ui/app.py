"""``create_app(settings)``: the dashboard's FastAPI app (pages, ``/api/v1``, ``/healthz``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from torchtrader.ui import api, pages
from torchtrader.ui.auth import UiError
from torchtrader.ui.deps import LoggedIn, UiContext
from torchtrader.ui.settings import UiSettings

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    # Everything is served from this app (plotly.js included): no third-party origin is ever needed.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
PUBLIC_PATHS = frozenset({"/healthz", "/login", "/api/v1/auth/login", "/api/v1/auth/refresh"})


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(settings: UiSettings) -> FastAPI:
    ctx = UiContext(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(
        title="Torch Trader dashboard",
        version="1",
        docs_url=None,  # the docs are served behind the login (see api_docs)
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(who: LoggedIn) -> dict[str, Any]:
        return app.openapi()

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_docs(request: Request, who: LoggedIn) -> Response:
        return pages.render(request, "docs.html", {"who": who, "spec": app.openapi()})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str, who: LoggedIn) -> FileResponse:
        files = {"plotly.min.js": plotly_js(), "app.js": HERE / "static" / "app.js"}
        if name not in files:
            raise UiError(404, f"no static file {name!r}")
        return FileResponse(
            files[name], media_type="text/javascript", headers={"Cache-Control": "private, max-age=3600"}
        )

    @app.exception_handler(UiError)
    async def problem(request: Request, error: UiError) -> Response:
        headers = {}
        if error.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if error.retry_after is not None:
            headers["Retry-After"] = str(error.retry_after)
        if _is_api(request):
            return JSONResponse({"detail": error.reason}, status_code=error.status, headers=headers)
        if error.status == 401:
            return pages.login_page(request, status_code=401, message=error.reason)
        return pages.error_page(request, error.status, error.reason, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        fields = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")),
                "msg": e.get("msg"),
            }
            for e in error.errors()
        ]
        if _is_api(request):
            # The offending input is left out: it may be a password.
            detail = [
                {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                for e in error.errors()
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        text = "; ".join(f"{f['field']}: {f['msg']}" for f in fields)
        return pages.error_page(request, 422, f"bad request parameter(s): {text}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        reason = str(error.detail) if error.status_code != 404 else f"no page at {request.url.path}"
        if _is_api(request):
            return JSONResponse({"detail": reason}, status_code=error.status_code)
        return pages.error_page(request, error.status_code, reason)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path not in ("/healthz",) and not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def route_table(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every endpoint, included routers walked too (the security tests use it)."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            methods = sorted(route.methods or ())
            found += [(method, prefix + route.path) for method in methods if method != "HEAD"]
        elif hasattr(route, "original_router"):  # FastAPI's included-router node
            context = getattr(route, "include_context", None)
            found += route_table(route.original_router.routes, prefix + getattr(context, "prefix", ""))
    return found
