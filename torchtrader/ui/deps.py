"""The app's shared context (state store, lake, throttle) and the login/role dependencies."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from torchtrader.bots.store import StateStore
from torchtrader.bots.store.schema import describe_url
from torchtrader.errors import TorchTraderError
from torchtrader.ui.auth import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    SAFE_METHODS,
    LoginThrottle,
    Principal,
    UiError,
    bearer_of,
    check_csrf,
    decode,
    issue_tokens,
    set_session_cookies,
)
from torchtrader.ui.settings import UiSettings
from torchtrader.ui.users import get_user

if TYPE_CHECKING:
    from torchtrader.lake import Lake


class UiContext:
    """Opened once per app: the state store (kept once it opened cleanly) and the lake."""

    def __init__(self, ui: UiSettings) -> None:
        self.ui = ui
        self.throttle = LoginThrottle(ui.login_attempts, ui.login_window_s)
        self._store: StateStore | None = None
        self._lake: Lake | None = None
        self._lock = threading.Lock()

    def store(self) -> StateStore:
        """The state store, or a 503 saying what is wrong with the DB and what to run."""
        with self._lock:
            if self._store is None:
                url = self.ui.core.state_db
                missing = _missing_sqlite_file(url)
                if missing is not None:
                    raise UiError(
                        503,
                        f"state DB {missing} does not exist: run `torchtrader db upgrade` (then "
                        "`torchtrader ui user add NAME --role admin`) or set TORCHTRADER_STATE_DB",
                    )
                try:
                    self._store = StateStore(url, create=False)
                except TorchTraderError as error:
                    raise UiError(503, f"{' '.join(str(error).split())}") from None
            return self._store

    def lake(self) -> Lake:
        from torchtrader.lake import Lake  # polars/deltalake only when a page reads the lake

        with self._lock:
            if self._lake is None:
                self._lake = Lake.from_settings(self.ui.core)
            return self._lake

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _missing_sqlite_file(url: str) -> str | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database).expanduser()
    return None if path.is_file() else describe_url(url)


def context(request: Request) -> UiContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, UiContext)
    return ctx


async def principal(request: Request, response: Response) -> Principal:
    """The logged-in user from a bearer token or the session cookies (refreshed when only the
    short-lived access cookie ran out), with the CSRF check for cookie-borne writes."""
    ctx = context(request)
    token, via = bearer_of(request), "bearer"
    if token is None:
        token, via = request.cookies.get(ACCESS_COOKIE), "cookie"
    claims, problem = None, UiError(401, "log in first: no access token")
    if token:
        try:
            claims = decode(ctx.ui, token, "access")
        except UiError as error:
            problem = error
    refresh = request.cookies.get(REFRESH_COOKIE)
    if claims is None and via == "cookie" and refresh and request.method in SAFE_METHODS:
        refreshed = decode(ctx.ui, refresh, "refresh")
        user = get_user(ctx.store(), str(refreshed["sub"]))
        if user is not None and user.token_version == refreshed.get("ver"):
            tokens = issue_tokens(ctx.ui, user)
            set_session_cookies(response, ctx.ui, tokens)
            claims = decode(ctx.ui, tokens["access_token"], "access")
    if claims is None:
        raise problem
    user = get_user(ctx.store(), str(claims["sub"]))
    if user is None or user.token_version != claims.get("ver"):
        raise UiError(401, "this session no longer matches its user: log in again")
    found = Principal(user, str(claims.get("csrf", "")), via)
    await check_csrf(request, found)
    return found


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.user.is_admin:
        raise UiError(403, f"user {who.user.name!r} is a viewer: bot controls need the admin role")
    return who


LoggedIn = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
