"""Every route needs a login (enumerated from the app, so a new route cannot be forgotten), viewers
cannot control bots, expired or forged tokens are refused, cookie writes need the CSRF value, logins
are throttled, and no secret ever shows up in an answer."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.ui.conftest import PASSWORDS, login
from torchtrader.cli.ui import check_bind
from torchtrader.errors import ConfigError
from torchtrader.ui.app import PUBLIC_PATHS, route_table

CONTROLS = ("halt", "flatten", "resume", "force-exit")


def _routes(client: TestClient) -> list[tuple[str, str]]:
    filled = {"{name}": "alpha", "{run_id}": "r1", "{path:path}": "index.html", "{name}.js": "app.js"}
    found = []
    for method, path in route_table(client.app.routes):  # type: ignore[attr-defined]
        for hole, value in filled.items():
            path = path.replace(hole, value)
        found.append((method, path))
    return found


def test_every_route_but_health_and_login_answers_401_without_a_token(client: TestClient) -> None:
    routes = _routes(client)
    assert len(routes) > 25 and {p for _, p in routes} >= PUBLIC_PATHS
    assert client.get("/healthz").status_code == 200 and client.get("/login").status_code == 200
    for method, path in routes:
        answer = client.request(method, path, json={}, params={"limit": 1})
        if path in PUBLIC_PATHS:  # reachable without a token (a login with no password still fails)
            continue
        assert answer.status_code == 401, (method, path, answer.status_code)


def test_viewer_gets_403_on_every_control(client: TestClient, viewer: dict[str, str]) -> None:
    for action in CONTROLS:
        answer = client.post(f"/api/v1/bots/alpha/{action}", json={"symbol": "BTC/USDT"}, headers=viewer)
        assert answer.status_code == 403 and "admin role" in answer.json()["detail"], action
    assert client.get("/api/v1/bots/alpha", headers=viewer).json()["state"] != "halted"


def test_expired_forged_and_refresh_tokens_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    claims = jwt.decode(admin["Authorization"].split()[1], options={"verify_signature": False})
    key_file = client.app.state.ctx.ui.signing_key.get_secret_value()  # type: ignore[attr-defined]
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, key_file, algorithm="HS256")
    answer = client.get("/api/v1/bots", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    forged = jwt.encode(claims, "another key, long enough for HS256 use", algorithm="HS256")
    assert client.get("/api/v1/bots", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    tokens = client.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORDS["ada"]}).json()
    as_access = client.get("/api/v1/bots", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert as_access.status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    ).json() == {
        "name": "ada",
        "role": "admin",
    }


def test_cookie_session_needs_the_csrf_value_to_control(client: TestClient) -> None:
    page = client.post(
        "/login", data={"username": "ada", "password": PASSWORDS["ada"]}, follow_redirects=False
    )
    assert page.status_code == 303
    set_cookie = page.headers.get_list("set-cookie")
    assert all("HttpOnly" in c and "SameSite=strict" in c for c in set_cookie)
    refused = client.post("/bots/alpha/control", data={"action": "halt", "confirm": "yes"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    refused_api = client.post("/api/v1/bots/alpha/halt")
    assert refused_api.status_code == 403
    assert client.get("/api/v1/bots/alpha").json()["state"] != "halted"


def test_failed_logins_are_throttled_even_for_the_right_password(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(login_attempts=3, login_window_s=60.0)
    for _ in range(3):
        assert (
            client.post("/api/v1/auth/login", json={"username": "ada", "password": "guess-guess"}).status_code
            == 401
        )
    throttled = client.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORDS["ada"]})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert client.post("/login", data={"username": "ada", "password": PASSWORDS["ada"]}).status_code == 429


def test_no_secret_in_pages_or_api_answers(client: TestClient, admin: dict[str, str]) -> None:
    token = admin["Authorization"].split()[1]
    key = client.app.state.ctx.ui.signing_key.get_secret_value()  # type: ignore[attr-defined]
    bad = client.post("/api/v1/auth/login", json={"username": "ada", "password": "wrong-secret-xyz"})
    assert "wrong-secret-xyz" not in bad.text
    short = client.post("/api/v1/auth/login", json={"username": "ada", "password": ""})
    assert short.status_code == 422 and "input" not in short.json()["detail"][0]
    for path in (
        "/",
        "/bots/alpha",
        "/research",
        "/data",
        "/api/v1/bots",
        "/api/v1/docs",
        "/api/v1/openapi.json",
    ):
        text = client.get(path, headers=admin).text
        for secret in (token, key, *PASSWORDS.values()):
            assert secret not in text, path


@pytest.mark.parametrize(
    ("host", "cert", "key", "insecure", "ok"),
    [
        ("127.0.0.1", None, None, False, True),
        ("::1", None, None, False, True),
        ("localhost", None, None, False, True),
        ("0.0.0.0", None, None, False, False),
        ("0.0.0.0", None, None, True, True),
        ("10.1.2.3", "c.pem", "k.pem", False, True),
        ("10.1.2.3", "c.pem", None, False, False),
    ],
)
def test_non_loopback_binds_need_tls_or_insecure(
    host: str, cert: str | None, key: str | None, insecure: bool, ok: bool
) -> None:
    if ok:
        check_bind(host, cert, key, insecure)
    else:
        with pytest.raises(ConfigError):
            check_bind(host, cert, key, insecure)


def test_viewer_login_works(client: TestClient) -> None:
    assert login(client, "vic")
