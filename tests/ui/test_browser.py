"""The dashboard in a real browser (Debian's chromium driven by playwright; never a downloaded one):
log in, every page, the trades table and plotly charts with data, halting a bot from the page, and
a viewer's control attempt refused. Screenshots land in the test's tmp folder."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.ui.conftest import PASSWORDS
from torchtrader.config import Settings
from torchtrader.ui import create_app, load_ui_settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make install` (apt-get install chromium)"


@pytest.fixture
def base_url(ui_settings: Settings) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(load_ui_settings(ui_settings)), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def _log_in(page: object, base_url: str, user: str) -> None:
    page.goto(f"{base_url}/login")  # type: ignore[attr-defined]
    page.get_by_label("User name").fill(user)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(PASSWORDS[user])  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base_url}/")  # type: ignore[attr-defined]


def test_pages_charts_and_controls_in_chromium(base_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            _log_in(page, base_url, "ada")
            expect(page.locator("#bots tr[data-bot='alpha']")).to_be_visible()
            page.wait_for_function("(document.getElementById('equity-all').data || []).length === 2")
            page.screenshot(path=str(shots / "overview.png"), full_page=True)

            page.get_by_role("link", name="alpha").click()
            expect(page.locator("#trades tbody tr").first).not_to_contain_text("no trades")
            page.wait_for_function("document.getElementById('equity').data[0].x.length > 0")
            page.wait_for_function("document.getElementById('candles').data[0].type === 'candlestick'")
            page.screenshot(path=str(shots / "bot.png"), full_page=True)

            page.get_by_label("Halt the bot and cancel its open orders").check()
            page.get_by_role("button", name="Halt", exact=True).click()
            expect(page.locator("#bot-state")).to_have_text("halted")
            expect(page.locator("#audit")).to_contain_text("ui:ada")
            page.screenshot(path=str(shots / "halted.png"), full_page=True)

            for name, path in (("research", "/research"), ("data", "/data")):
                page.goto(base_url + path)
                expect(page.locator("h1")).to_have_text(name.capitalize())
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            expect(page.locator("#series")).to_contain_text("BTC/USDT")

            viewer = browser.new_page()
            _log_in(viewer, base_url, "vic")
            viewer.goto(f"{base_url}/bots/beta")
            viewer.get_by_label("Halt the bot and cancel its open orders").check()
            viewer.get_by_role("button", name="Halt", exact=True).click()
            expect(viewer.locator("#reason")).to_contain_text("viewer")
            viewer.screenshot(path=str(shots / "viewer-refused.png"))
            viewer.goto(f"{base_url}/bots/beta")
            expect(viewer.locator("#bot-state")).not_to_have_text("halted")
        finally:
            browser.close()
    assert sorted(f.name for f in shots.iterdir()) == [
        "bot.png", "data.png", "halted.png", "overview.png", "research.png", "viewer-refused.png",
    ]  # fmt: skip
