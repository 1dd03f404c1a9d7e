"""Bad input: unknown bot or run is a 404 with the reason, a malformed query a 422 naming the field,
and a missing or newer-schema state DB makes the page say so and what to run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from torchtrader.config import load_settings
from torchtrader.ui import create_app, load_ui_settings
from torchtrader.ui.auth import issue_tokens
from torchtrader.ui.users import User


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/api/v1/bots/nobody", "bot 'nobody' is not in the state DB"),
        ("/api/v1/bots/nobody/trades", "bot 'nobody' is not in the state DB"),
        ("/api/v1/bots/nobody/equity", "bot 'nobody' is not in the state DB"),
        ("/api/v1/runs/no-such-run", "backtest run 'no-such-run'"),
    ],
)
def test_unknown_ids_are_404_with_the_reason(
    client: TestClient, admin: dict[str, str], path: str, reason: str
) -> None:
    answer = client.get(path, headers=admin)
    assert answer.status_code == 404 and reason in answer.json()["detail"]


def test_unknown_bot_page_is_a_404_page_with_the_reason(client: TestClient, admin: dict[str, str]) -> None:
    answer = client.get("/bots/nobody", headers=admin)
    assert answer.status_code == 404 and "bot &#39;nobody&#39; is not in the state DB" in answer.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "zero"}, "page"),
        ({"size": 0}, "size"),
        ({"sort": "pnl"}, "sort"),
        ({"order": "up"}, "order"),
    ],
)
def test_malformed_query_is_422_naming_the_field(
    client: TestClient, admin: dict[str, str], params: dict[str, object], field: str
) -> None:
    answer = client.get("/api/v1/bots/alpha/trades", params=params, headers=admin)
    assert answer.status_code == 422
    assert [d["loc"] for d in answer.json()["detail"]] == [["query", field]]
    page = client.get("/bots/alpha", params=params, headers=admin)
    assert page.status_code == 422 and f"{field}:" in page.text


def test_missing_state_db_page_says_what_to_run(tmp_path: Path) -> None:
    settings = load_settings(lake=str(tmp_path / "lake"), state_db=f"sqlite:///{tmp_path / 'none.db'}")
    with TestClient(create_app(load_ui_settings(settings))) as client:
        answer = client.get("/login")
        page = client.post("/login", data={"username": "ada", "password": "whatever-long"})
    assert answer.status_code == 200
    assert page.status_code == 503 and "does not exist" in page.text and "torchtrader db upgrade" in page.text
    assert not (tmp_path / "none.db").exists()


def test_newer_schema_state_db_page_says_upgrade(state_copy: Path) -> None:
    db = state_copy / "state.db"
    with sqlite3.connect(db) as c:
        c.execute("update alembic_version set version_num = '9999'")
    settings = load_settings(lake=str(state_copy / "lake"), state_db=f"sqlite:///{db}")
    ui = load_ui_settings(settings)
    bearer = {"Authorization": f"Bearer {issue_tokens(ui, User('ada', 'admin', 0))['access_token']}"}
    with TestClient(create_app(ui)) as client:
        page = client.post("/login", data={"username": "ada", "password": "admin-password-1"})
        api = client.get("/api/v1/bots", headers=bearer)
    assert (
        page.status_code == 503
        and "newer than this Torch Trader" in page.text
        and "upgrade torchtrader" in page.text
    )
    assert api.status_code == 503 and "9999" in api.json()["detail"]
