from __future__ import annotations

from pathlib import Path

import pytest

from torchtrader.config import load_settings
from torchtrader.errors import ConfigError, TorchTraderError
from torchtrader.timeframes import timeframe_seconds


def test_env_overrides_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCHTRADER_LAKE", str(tmp_path / "elsewhere"))
    assert load_settings().lake == str(tmp_path / "elsewhere")


def test_explicit_override_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTRADER_LAKE", "/from/env")
    assert load_settings(lake="/explicit").lake == "/explicit"


def test_toml_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "tt.toml"
    config.write_text('lake = "s3://bucket/lake"\ndask_workers = 4\n')
    monkeypatch.setenv("TORCHTRADER_CONFIG", str(config))
    settings = load_settings()
    assert (settings.lake, settings.dask_workers) == ("s3://bucket/lake", 4)


def test_bad_setting_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTRADER_DASK_WORKERS", "zero")
    with pytest.raises(ConfigError, match="dask_workers") as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, TorchTraderError)


@pytest.mark.parametrize(
    ("timeframe", "seconds"), [("1m", 60), ("15m", 900), ("1h", 3600), ("4h", 14400), ("1d", 86400)]
)
def test_timeframes(timeframe: str, seconds: int) -> None:
    assert timeframe_seconds(timeframe) == seconds


@pytest.mark.parametrize("bad", ["", "1", "m", "0m", "1y", "1 d"])
def test_bad_timeframe(bad: str) -> None:
    with pytest.raises(ConfigError, match="invalid timeframe"):
        timeframe_seconds(bad)
