"""A bot's configuration: one frozen pydantic model, kept as a TOML file per bot.

``BotConfig`` is also what the Prefect flow takes as its parameter. Files live in the bots folder
(``bots_dir``: ``Settings.bots_dir``, or ``bots/`` beside a SQLite state DB), one ``NAME.toml`` each,
or anywhere with ``bot run --config FILE``. A config names the environment variables (or Prefect
Secret blocks) that hold API keys, never the keys.

Everything that can be checked before a cycle is checked by ``check_bot`` with one-line errors: an
unknown strategy or parameter, an unknown broker, impossible risk limits, a missing key variable.
"""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from torchtrader.alerts import AlertConfig
from torchtrader.bots.risk import RiskLimits
from torchtrader.bots.secrets import SecretResolver, resolve_secret
from torchtrader.config import Settings
from torchtrader.errors import BotError, ConfigError
from torchtrader.timeframes import timeframe_seconds

if TYPE_CHECKING:
    from torchtrader.bots.broker import Broker
    from torchtrader.bots.store import StateStore
    from torchtrader.strategies import Strategy, StrategyParams

BROKERS = ("paper", "ccxt", "alpaca")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Scalar = int | float | bool | str
# ccxt client options that carry credentials: they come from key_env / secret_env, never the config
CREDENTIAL_OPTIONS = frozenset(
    {"apikey", "secret", "password", "uid", "login", "privatekey", "walletaddress", "token"}
)


class BrokerConfig(BaseModel):
    """Where the bot trades, and the names (not values) of the variables holding its keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "paper"
    exchange: str = "binance"
    api_url: str | None = None
    sandbox: bool = False
    key_env: str | None = None
    secret_env: str | None = None
    quote_currency: str = "USDT"
    dedicated_account: bool = Field(
        default=True, description="the account trades for this bot only: reconcile cash and positions exactly"
    )
    retries: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="retries of a failed network call (None: the venue client's default)"
    )
    backoff_s: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="first back-off in seconds, doubled each retry (None: the client's default)"
    )
    exchange_options: dict[str, Scalar] = Field(
        default_factory=dict,
        description="ccxt client options for this venue (e.g. rateLimit in ms, timeout); never credentials",
    )

    @field_validator("kind")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value not in BROKERS:
            raise ValueError(f"unknown broker {value!r}: use one of {', '.join(BROKERS)}")
        return value

    @model_validator(mode="after")
    def _keys_named(self) -> BrokerConfig:
        if self.kind != "paper" and not (self.key_env and self.secret_env):
            raise ValueError(
                f"a {self.kind} broker needs key_env and secret_env (names of the variables holding the keys)"
            )
        if self.exchange_options and self.kind != "ccxt":
            raise ValueError(f"exchange_options are ccxt client options: a {self.kind} broker takes none")
        secret = sorted(k for k in self.exchange_options if k.lower() in CREDENTIAL_OPTIONS)
        if secret:
            raise ValueError(
                f"exchange_options must not hold credentials ({', '.join(secret)}): name their variables "
                "in key_env and secret_env"
            )
        return self


class BotConfig(BaseModel):
    """One bot: what it trades, how it sizes, where it trades, its limits and its alerts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    strategy: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    symbols: Annotated[tuple[str, ...], Field(min_length=1)]
    timeframe: str = "1d"
    source: str = "synthetic"
    source_options: dict[str, Scalar] = Field(default_factory=dict)
    capital: Annotated[float, Field(gt=0)]
    size: Annotated[float, Field(gt=0, le=1)] = 1.0
    fee: Annotated[float, Field(ge=0, lt=1)] = 0.0
    slippage_bps: Annotated[float, Field(ge=0, lt=10_000)] = 0.0
    lookback_bars: Annotated[int, Field(ge=2)] = 500
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    schedule: str | None = None

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        try:
            timeframe_seconds(value)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value) or not all(s.strip() for s in value):
            raise ValueError(f"symbols must be distinct and non-empty, got {list(value)}")
        return value

    @property
    def cron(self) -> str:
        """The schedule: given, or one run as each bar closes."""
        return self.schedule or cron_for(self.timeframe)

    def snapshot(self) -> dict[str, Any]:
        """The config as JSON-able data (what the state store records; holds no secret values)."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data


def cron_for(timeframe: str) -> str:
    """A cron expression firing when each bar of ``timeframe`` closes (UTC)."""
    seconds = timeframe_seconds(timeframe)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds % 604800 == 0:
        return "0 0 * * 1"
    if seconds % 86400 == 0:
        return "0 0 * * *" if days == 1 else f"0 0 */{days} * *"
    if seconds % 3600 == 0:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if seconds % 60 == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    raise BotError(f"timeframe {timeframe!r} is shorter than a minute: cron cannot schedule it")


def one_line(error: pydantic.ValidationError, where: str) -> str:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "config"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"bot config {where}: {loc}: {message}"


def make_bot_config(data: dict[str, Any], *, where: str = "") -> BotConfig:
    """A ``BotConfig`` from loose data; a bad value is one ``BotError`` line naming the field."""
    try:
        return BotConfig.model_validate(data)
    except pydantic.ValidationError as error:
        raise BotError(one_line(error, where or str(data.get("name", "?")))) from None


# ------------------------------------------------------------------ files
def bots_dir(settings: Settings) -> Path:
    """Where bot configs live: ``Settings.bots_dir``, else ``bots/`` beside a SQLite state DB."""
    explicit = getattr(settings, "bots_dir", None)
    if explicit:
        return Path(explicit).expanduser()
    url = settings.state_db
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).expanduser().parent / "bots"
    return Path.cwd() / "bots"


def config_path(settings: Settings, name: str) -> Path:
    if not re.match(NAME_PATTERN, name):
        raise BotError(f"bot name {name!r} is not valid: use letters, digits, '.', '_' or '-' (max 64)")
    return bots_dir(settings) / f"{name}.toml"


def load_bot_config(path: str | Path) -> BotConfig:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BotError(f"bot config {path} does not exist: create it with `torchtrader bot create`") from None
    except OSError as error:
        raise BotError(f"bot config {path} cannot be read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BotError(f"bot config {path} is not valid TOML: {error}") from None
    return make_bot_config(data, where=str(path))


def find_bot_config(settings: Settings, name: str, config_file: str | Path | None = None) -> BotConfig:
    """The bot's config: ``config_file`` when given (its name must match), else the bots folder."""
    config = load_bot_config(config_file or config_path(settings, name))
    if config.name != name:
        raise BotError(f"bot config {config_file} is for bot {config.name!r}, not {name!r}")
    return config


def save_bot_config(config: BotConfig, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``config`` as TOML atomically (temp file, then rename)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise BotError(f"bot {config.name!r} already exists at {path}: pick another name or delete it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_toml(config.snapshot()), encoding="utf-8")
    tmp.replace(path)
    return path


def to_toml(data: dict[str, Any]) -> str:
    """TOML for plain data: scalars and lists first, then one table per dict (nested as [a.b])."""
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _table(data: dict[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and v is not None}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if path and (scalars or not tables):
        lines.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _table(value, [*path, key], lines)


def _key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    raise BotError(f"cannot write {value!r} to a bot config")


# ---------------------------------------------------------------- checks
def resolve_strategy(config: BotConfig, strategies_dir: str | None = None) -> tuple[Strategy, StrategyParams]:
    """The strategy instance and its parsed parameters (one-line StrategyError when unknown/bad)."""
    from torchtrader.strategies import load_strategy, parse_params

    cls = load_strategy(config.strategy, strategies_dir)
    return cls(), parse_params(cls, dict(config.params))


def check_bot(
    config: BotConfig, strategies_dir: str | None = None, *, resolver: SecretResolver | None = None
) -> None:
    """Everything that can fail before a cycle: strategy, parameters, key variables."""
    resolve_strategy(config, strategies_dir)
    if config.broker.kind != "paper":
        assert config.broker.key_env and config.broker.secret_env
        resolve_secret(config.broker.key_env, resolver=resolver)
        resolve_secret(config.broker.secret_env, resolver=resolver)


def make_broker(
    config: BotConfig,
    *,
    store: StateStore,
    lake: object,
    resolver: SecretResolver | None = None,
) -> Broker:
    """The bot's venue: the paper account in ``store``, or a live venue with keys resolved by name."""
    broker = config.broker
    if broker.kind == "paper":
        from torchtrader.bots.paper import LakePriceFeed, PaperBroker

        return PaperBroker(
            store,
            config.name,
            LakePriceFeed(lake, config.timeframe, config.source),
            initial_cash=config.capital,
            fee=config.fee,
            slippage_bps=config.slippage_bps,
            quote_currency=broker.quote_currency,
        )
    assert broker.key_env and broker.secret_env
    api_key = resolve_secret(broker.key_env, resolver=resolver)
    secret = resolve_secret(broker.secret_env, resolver=resolver)
    retry: dict[str, Any] = {}  # only what the config sets: each venue client has its own defaults
    if broker.retries is not None:
        retry["retries"] = broker.retries
    if broker.backoff_s is not None:
        retry["backoff_s"] = broker.backoff_s
    try:
        if broker.kind == "ccxt":
            ccxt_cls = _venue_class("torchtrader.bots.ccxt_broker", "CcxtBroker")
            return ccxt_cls(
                broker.exchange,
                api_key=api_key,
                secret=secret,
                api_url=broker.api_url,
                sandbox=broker.sandbox,
                exchange_options=dict(broker.exchange_options),
                **retry,
            )
        alpaca_cls = _venue_class("torchtrader.bots.alpaca_broker", "AlpacaBroker")
        return alpaca_cls(
            api_key=api_key, secret=secret, api_url=broker.api_url, paper=not broker.sandbox, **retry
        )
    except ImportError as error:
        raise BotError(f"broker {broker.kind!r} is not available in this install: {error}") from None


def _venue_class(module: str, name: str) -> Callable[..., Broker]:
    """Live venues are imported only when a bot uses them (ccxt and alpaca-py are heavy)."""
    cls: Callable[..., Broker] = getattr(importlib.import_module(module), name)
    return cls
