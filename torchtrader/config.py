"""Settings: one frozen object, read from TORCHTRADER_* env vars and an optional TOML file.

Nothing is read at import time; call ``load_settings()`` where settings are needed (the CLI does it
once per command, flows take them as parameters). Precedence: explicit overrides > env > TOML > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from torchtrader.errors import ConfigError

DEFAULT_CONFIG_FILE = "torchtrader.toml"


def _repo_default(path: str) -> str:
    return str(Path.cwd() / path)


class Settings(BaseSettings):
    """Where everything lives. Defaults are the embedded local stack; each is a URI or address."""

    model_config = SettingsConfigDict(
        env_prefix="TORCHTRADER_", frozen=True, extra="forbid", toml_file=DEFAULT_CONFIG_FILE
    )

    lake: str = Field(
        default_factory=lambda: _repo_default("data_lake"),
        description="lake root: path or s3:// URI",
    )
    mlflow_uri: str = Field(
        default_factory=lambda: "sqlite:///" + _repo_default("mlflow.db"),
        description="MLflow tracking URI (absolute sqlite:/// or http://)",
    )
    dask_address: str | None = Field(default=None, description="Dask scheduler address; None = LocalCluster")
    dask_workers: int = Field(default=2, gt=0)
    ray_address: str | None = Field(default=None, description="Ray cluster address; None = local Ray")
    state_db: str = Field(
        default_factory=lambda: "sqlite:///" + _repo_default("torchtrader_state.db"),
        description="SQLAlchemy URL of the bot state store",
    )
    strategies: str | None = Field(default=None, description="folder of user strategy files")
    bots_dir: str | None = Field(
        default=None, description="folder of bot configs (NAME.toml); None = bots/ beside a SQLite state DB"
    )
    alphavantage_key: str | None = Field(default=None, repr=False)
    alert_urls: list[str] = Field(
        default_factory=list,
        repr=False,
        description="apprise URLs for pipeline alerts (failed or late scheduled runs)",
    )
    ui_signing_key: str | None = Field(
        default=None,
        repr=False,
        description="dashboard token signing key; None = generated into the state dir",
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="object-store options for s3:// lakes (endpoint, keys, region)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get("TORCHTRADER_CONFIG", DEFAULT_CONFIG_FILE)
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings with ``overrides`` (None values ignored) on top of env and TOML."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None
