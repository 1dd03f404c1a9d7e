"""The web dashboard and REST API (``torchtrader ui``): FastAPI, server-rendered pages, plotly.js."""

from __future__ import annotations

from torchtrader.ui.app import create_app
from torchtrader.ui.settings import UiSettings, load_ui_settings

__all__ = ["UiSettings", "create_app", "load_ui_settings"]
