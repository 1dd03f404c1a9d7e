"""Tokens, the login throttle and the request guards of the dashboard.

Two ways in, one check: API clients send ``Authorization: Bearer <access token>``; browsers hold the
same tokens in HttpOnly ``SameSite=Strict`` cookies. A cookie-borne request that changes anything
must also carry the access token's CSRF value (``X-CSRF-Token`` header or ``csrf`` form field): a
cross-site page can make the browser send the cookie but cannot read that value. Bearer requests
need no CSRF value (browsers never attach them on their own).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import Request, Response

from torchtrader.ui.settings import UiSettings
from torchtrader.ui.users import User

ACCESS_COOKIE, REFRESH_COOKIE = "tt_access", "tt_refresh"
ALGORITHM = "HS256"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class UiError(Exception):
    """Answered as 401 (no or bad credentials), 403 (not allowed) or 429 (throttled)."""

    def __init__(self, status: int, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


@dataclass(frozen=True)
class Principal:
    user: User
    csrf: str
    via: str  # "bearer" or "cookie"


# ------------------------------------------------------------------ tokens
def issue_tokens(ui: UiSettings, user: User) -> dict[str, Any]:
    now = int(time.time())
    key = ui.signing_key.get_secret_value()
    access = {
        "sub": user.name,
        "typ": "access",
        "role": user.role,
        "ver": user.token_version,
        "csrf": secrets.token_urlsafe(24),
        "iat": now,
        "exp": now + ui.access_ttl_s,
    }
    refresh = {
        "sub": user.name,
        "typ": "refresh",
        "ver": user.token_version,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + ui.refresh_ttl_s,
    }
    return {
        "access_token": jwt.encode(access, key, algorithm=ALGORITHM),
        "refresh_token": jwt.encode(refresh, key, algorithm=ALGORITHM),
        "token_type": "bearer",
        "expires_in": ui.access_ttl_s,
        "csrf": access["csrf"],
    }


def decode(ui: UiSettings, token: str, kind: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            ui.signing_key.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise UiError(401, f"{kind} token expired: log in again") from None
    except jwt.InvalidTokenError:
        raise UiError(401, f"invalid {kind} token: log in again") from None
    if claims.get("typ") != kind:
        raise UiError(401, f"not an {kind} token: log in again")
    return claims


def set_session_cookies(response: Response, ui: UiSettings, tokens: dict[str, Any]) -> None:
    common: dict[str, Any] = {"httponly": True, "samesite": "strict", "secure": ui.secure_cookies}
    response.set_cookie(ACCESS_COOKIE, tokens["access_token"], max_age=ui.access_ttl_s, path="/", **common)
    response.set_cookie(REFRESH_COOKIE, tokens["refresh_token"], max_age=ui.refresh_ttl_s, path="/", **common)


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path="/")


# ---------------------------------------------------------------- throttle
class LoginThrottle:
    """Failed logins per user name and per client address in a sliding window."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts, self.window_s = attempts, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, client: str) -> list[tuple[str, int]]:
        # An address may try a few names (typos, shared offices) but not sweep a user list.
        return [(f"user:{name.lower()}", self.attempts), (f"addr:{client}", self.attempts * 4)]

    def check(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, limit in self._keys(name, client):
                failures = self._failures.get(key)
                while failures and now - failures[0] > self.window_s:
                    failures.popleft()
                if failures and len(failures) >= limit:
                    wait = int(self.window_s - (now - failures[0])) + 1
                    raise UiError(429, f"too many failed logins: try again in {wait} s", retry_after=wait)

    def failed(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, _ in self._keys(name, client):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name.lower()}", None)


# ------------------------------------------------------------------ guards
def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form body (first value per field), parsed once per request."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        text = (await request.body()).decode("utf-8", errors="replace")
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            text = ""
        cached = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        request.state.form = cached
    return dict(cached)


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def check_csrf(request: Request, principal: Principal) -> None:
    if principal.via != "cookie" or request.method in SAFE_METHODS:
        return
    given = request.headers.get("x-csrf-token") or (await form_of(request)).get("csrf", "")
    if not given or not secrets.compare_digest(given, principal.csrf):
        raise UiError(403, "missing or wrong CSRF token: reload the page and try again")
