"""Bot configs: TOML round trip, the cron of each timeframe, and one-line errors for bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from torchtrader.bots.config import (
    BotConfig,
    check_bot,
    cron_for,
    load_bot_config,
    make_bot_config,
    save_bot_config,
)
from torchtrader.errors import BotError, ConfigError, StrategyError

MakeConfig = Callable[..., BotConfig]


def test_a_config_survives_a_toml_round_trip(tmp_path: Path, bot_config: MakeConfig) -> None:
    config = bot_config(
        risk={"max_position_notional": 5_000.0, "max_daily_loss": 0.05},
        alerts={"urls": ["json://127.0.0.1:9/"], "drawdown_at_least": 0.1},
        broker={
            "kind": "ccxt",
            "exchange": "binance",
            "key_env": "K",
            "secret_env": "S",
            "sandbox": True,
            "exchange_options": {"rateLimit": 100, "timeout": 5000},
        },
        source_options={"seed": 7},
    )
    path = save_bot_config(config, tmp_path / "alpha.toml")
    assert load_bot_config(path) == config
    text = path.read_text()
    assert 'key_env = "K"' in text and "[risk]" in text and "rateLimit = 100" in text


def test_an_existing_config_is_not_overwritten(tmp_path: Path, bot_config: MakeConfig) -> None:
    save_bot_config(bot_config(), tmp_path / "alpha.toml")
    with pytest.raises(BotError, match="already exists"):
        save_bot_config(bot_config(capital=1.0), tmp_path / "alpha.toml")
    assert load_bot_config(tmp_path / "alpha.toml").capital == 10_000.0


@pytest.mark.parametrize(
    ("timeframe", "cron"),
    [
        ("1m", "* * * * *"),
        ("15m", "*/15 * * * *"),
        ("1h", "0 * * * *"),
        ("4h", "0 */4 * * *"),
        ("1d", "0 0 * * *"),
        ("1w", "0 0 * * 1"),
    ],
)
def test_the_schedule_fires_as_each_bar_closes(timeframe: str, cron: str) -> None:
    assert cron_for(timeframe) == cron


BAD = [
    ({"broker": {"kind": "ftx"}}, BotError, "unknown broker 'ftx': use one of paper, ccxt, alpaca"),
    ({"broker": {"kind": "ccxt"}}, BotError, "needs key_env and secret_env"),
    (
        {"risk": {"max_daily_loss": 5}},
        BotError,
        "risk.max_daily_loss: risk limit max_daily_loss is a fraction",
    ),
    (
        {"risk": {"max_position_notional": 9_000, "max_total_notional": 1_000}},
        BotError,
        "max_position_notional (9000) is above max_total_notional",
    ),
    ({"timeframe": "1 hour"}, BotError, "invalid timeframe '1 hour'"),
    ({"capital": 0}, BotError, "capital: Input should be greater than 0"),
    ({"symbols": []}, BotError, "symbols"),
    ({"name": "bad name!"}, BotError, "name: String should match pattern"),
    ({"alerts": {"urls": ["nowhere"]}}, BotError, "has no scheme"),
    (
        {"broker": {"exchange_options": {"rateLimit": 1}}},
        BotError,
        "exchange_options are ccxt client options: a paper broker takes none",
    ),
    (
        {"broker": {"kind": "ccxt", "key_env": "K", "secret_env": "S", "exchange_options": {"apiKey": "x"}}},
        BotError,
        "exchange_options must not hold credentials (apiKey)",
    ),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD)
def test_bad_configs_are_one_line(
    bot_config: MakeConfig, change: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        bot_config(**change)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            {"strategy": "sma_crosss"},
            StrategyError,
            "unknown strategy 'sma_crosss'; did you mean 'sma_cross'?",
        ),
        ({"params": {"fast": 9, "slow": 3}}, StrategyError, "slow (3) must be > fast (9)"),
        ({"params": {"fats": 3}}, StrategyError, "fats"),
        (
            {"broker": {"kind": "ccxt", "key_env": "TT_NO_SUCH_KEY", "secret_env": "TT_NO_SUCH_SECRET"}},
            ConfigError,
            "environment variable TT_NO_SUCH_KEY is not set or empty",
        ),
    ],
)
def test_checks_before_a_cycle_name_the_culprit(
    bot_config: MakeConfig, change: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        check_bot(bot_config(**change))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_key_variable_is_named_but_no_value_is_shown(
    bot_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TT_KEY", "k-value-123")
    config = bot_config(broker={"kind": "ccxt", "key_env": "TT_KEY", "secret_env": "TT_SECRET"})
    with pytest.raises(ConfigError) as caught:
        check_bot(config)
    assert "TT_SECRET" in str(caught.value) and "k-value-123" not in str(caught.value)


def test_a_broken_toml_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("name = 'x'\nsymbols = [\n")
    with pytest.raises(BotError, match="is not valid TOML"):
        load_bot_config(path)
    with pytest.raises(BotError, match="does not exist"):
        load_bot_config(tmp_path / "missing.toml")


def test_the_default_schedule_follows_the_timeframe(bot_config: MakeConfig) -> None:
    assert bot_config(timeframe="4h").cron == "0 */4 * * *"
    assert bot_config(schedule="5 * * * *").cron == "5 * * * *"
    assert make_bot_config(bot_config().snapshot()) == bot_config()


def test_exchange_options_reach_the_ccxt_clients_of_the_broker_and_the_bars(
    bot_config: MakeConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from torchtrader.bots.config import make_broker
    from torchtrader.bots.market import make_source
    from torchtrader.bots.store import StateStore

    monkeypatch.setenv("TT_KEY", "k-value-123")
    monkeypatch.setenv("TT_SECRET", "s-value-456")
    config = bot_config(
        source="ccxt",
        broker={
            "kind": "ccxt",
            "key_env": "TT_KEY",
            "secret_env": "TT_SECRET",
            "exchange_options": {"rateLimit": 7},
        },
    )
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        broker = make_broker(config, store=store, lake=None)
    finally:
        store.close()
    assert broker.exchange.rateLimit == 7 and broker.exchange.enableRateLimit  # type: ignore[attr-defined]
    source = make_source(config)
    assert source.exchange.rateLimit == 7 and source.exchange.enableRateLimit  # type: ignore[attr-defined]
