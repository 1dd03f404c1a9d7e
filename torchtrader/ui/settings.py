"""``UiSettings``: what the dashboard needs beyond the project ``Settings`` (keys, lifetimes, links)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from torchtrader.config import Settings
from torchtrader.errors import ConfigError

logger = logging.getLogger(__name__)
KEY_FILE = "ui_signing_key"
MIN_KEY = 32  # HS256 wants at least 32 bytes of key


class UiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    core: Settings
    signing_key: SecretStr
    access_ttl_s: int = Field(default=900, gt=0, description="access token lifetime")
    refresh_ttl_s: int = Field(default=7 * 86_400, gt=0, description="refresh token lifetime")
    login_attempts: int = Field(default=5, gt=0, description="failed logins allowed per window")
    login_window_s: float = Field(default=300.0, gt=0)
    secure_cookies: bool = Field(default=False, description="Secure flag on cookies (set under TLS)")
    mlflow_ui_url: str | None = Field(default=None, description="MLflow UI base URL for run links")
    data_docs_dir: str | None = Field(default=None, description="folder of `torchtrader data docs` HTML")
    sse_interval_s: float = Field(default=2.0, gt=0)


def state_dir(settings: Settings) -> Path:
    """The folder of a SQLite state DB, else the working directory."""
    try:
        url = make_url(settings.state_db)
    except ArgumentError:
        return Path.cwd()
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent
    return Path.cwd()


def signing_key(settings: Settings) -> str:
    """TORCHTRADER_UI_SIGNING_KEY, else the key file in the state dir (created 0600 on first use)."""
    if settings.ui_signing_key:
        if len(settings.ui_signing_key) < MIN_KEY:
            raise ConfigError(
                f"TORCHTRADER_UI_SIGNING_KEY is shorter than {MIN_KEY} characters: use a longer random key"
            )
        return settings.ui_signing_key
    folder = state_dir(settings)
    path = folder / KEY_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two servers starting together cannot both write (the loser reads the winner's key).
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    logger.info("generated a dashboard signing key in %s", path)
    return key


def load_ui_settings(settings: Settings, **overrides: object) -> UiSettings:
    given = {k: v for k, v in overrides.items() if v is not None}
    return UiSettings(core=settings, signing_key=SecretStr(signing_key(settings)), **given)
