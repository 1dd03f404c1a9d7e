"""A state store filled by a real paper bot run (sma_cross on the synthetic hourly series), dashboard
users, and a FastAPI TestClient over the real app."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.bots.conftest import hour
from torchtrader.bots.config import config_path, make_bot_config, save_bot_config
from torchtrader.bots.ops import open_bot, run_once
from torchtrader.bots.store import StateStore
from torchtrader.config import Settings, load_settings
from torchtrader.ui import create_app, load_ui_settings
from torchtrader.ui.users import add_user

PASSWORDS = {"ada": "admin-password-1", "vic": "viewer-password-1"}
BOTS = ("alpha", "beta")


def bot_data(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "strategy": "sma_cross",
        "params": {"fast": 2, "slow": 5},
        "symbols": ["BTC/USDT"],
        "timeframe": "1h",
        "capital": 10_000.0,
        "fee": 0.001,
        "slippage_bps": 5.0,
    }


@pytest.fixture(scope="session")
def filled_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Once per session: two paper bots run 40 hourly cycles each; a copy is handed to each test."""
    root = tmp_path_factory.mktemp("ui_state")
    settings = load_settings(lake=str(root / "lake"), state_db=f"sqlite:///{root / 'state.db'}")
    for name in BOTS:
        config = make_bot_config(bot_data(name))
        save_bot_config(config, config_path(settings, name))
        session = open_bot(settings, name)
        for i in range(8, 48):
            run_once(session, settings, now=hour(i))
        session.store.close()
    store = StateStore(settings.state_db)
    add_user(store, "ada", "admin", PASSWORDS["ada"])
    add_user(store, "vic", "viewer", PASSWORDS["vic"])
    store.close()
    return root


@pytest.fixture
def state_copy(filled_state: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ui"
    shutil.copytree(filled_state, target)
    return target


@pytest.fixture
def ui_settings(state_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("TORCHTRADER_UI_SIGNING_KEY", raising=False)
    return load_settings(lake=str(state_copy / "lake"), state_db=f"sqlite:///{state_copy / 'state.db'}")


@pytest.fixture
def make_client(ui_settings: Settings) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(load_ui_settings(ui_settings, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def login(client: TestClient, user: str) -> dict[str, str]:
    """Bearer headers for ``user``."""
    answer = client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORDS[user]})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return login(client, "ada")


@pytest.fixture
def viewer(client: TestClient) -> dict[str, str]:
    return login(client, "vic")
