"""``torchtrader bot …`` (create, list, run, status, trades, halt, resume, reconcile) and
``torchtrader db upgrade``.

Bot configs are TOML files in the bots folder (``Settings.bots_dir``, default ``bots/`` beside the
SQLite state DB); the state lives in ``Settings.state_db`` (``TORCHTRADER_STATE_DB``). Heavy modules
load inside the commands so ``torchtrader --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from torchtrader.cli.common import echo_json, parse_when, settings_of
from torchtrader.errors import BotError, TorchTraderError

bot_app = typer.Typer(name="bot", help="Trading bots: create, run, watch, halt.", no_args_is_help=True)
db_app = typer.Typer(name="db", help="The bot state database.", no_args_is_help=True)


@bot_app.command("create")
def create_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="bot name (letters, digits, . _ -)"),
    strategy: str = typer.Option(..., "--strategy", help="built-in name, user strategy name or file.py"),
    params: list[str] = typer.Option([], "--param", "-p", help="strategy parameter k=v (repeatable)"),
    symbols: list[str] = typer.Option(..., "--symbol", "-s", help="symbol to trade (repeatable)"),
    timeframe: str = typer.Option("1d", "--timeframe", "-t"),
    capital: float = typer.Option(..., "--capital", help="quote currency the bot may use"),
    broker: str = typer.Option("paper", "--broker", help="paper, ccxt or alpaca"),
    exchange: str = typer.Option("binance", "--exchange", help="ccxt exchange id"),
    api_url: str | None = typer.Option(None, "--api-url", help="venue API base URL override"),
    sandbox: bool = typer.Option(False, "--sandbox", help="the venue's testnet / sandbox"),
    key_env: str | None = typer.Option(None, "--key-env", help="environment variable holding the API key"),
    secret_env: str | None = typer.Option(None, "--secret-env", help="variable holding the API secret"),
    source: str = typer.Option("synthetic", "--source", help="bar source for the lake (ingest path)"),
    fee: float = typer.Option(0.0, "--fee", help="paper fee per side (fraction of notional)"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
    size: float = typer.Option(1.0, "--size", help="fraction of equity a full target uses"),
    max_position: float | None = typer.Option(None, "--max-position", help="max notional per symbol"),
    max_total: float | None = typer.Option(None, "--max-total", help="max notional of all positions"),
    max_daily_loss: float | None = typer.Option(None, "--max-daily-loss", help="fraction, e.g. 0.05"),
    max_drawdown: float | None = typer.Option(None, "--max-drawdown", help="fraction, e.g. 0.2"),
    alerts: list[str] = typer.Option([], "--alert", help="apprise URL (repeatable)"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing config"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write the bot's config (checked: strategy, parameters, broker, risk limits)."""
    from torchtrader.bots.config import config_path, make_bot_config, resolve_strategy, save_bot_config
    from torchtrader.strategies import load_strategy, parse_params

    settings = settings_of(ctx)
    cls = load_strategy(strategy, settings.strategies)
    parsed = parse_params(cls, params)
    given = {spec.split("=", 1)[0].strip() for spec in params}
    risk = {
        key: value
        for key, value in {
            "max_position_notional": max_position,
            "max_total_notional": max_total,
            "max_daily_loss": max_daily_loss,
            "max_drawdown": max_drawdown,
        }.items()
        if value is not None
    }
    broker_data: dict[str, Any] = {"kind": broker, "exchange": exchange, "sandbox": sandbox}
    broker_data |= {
        k: v for k, v in {"api_url": api_url, "key_env": key_env, "secret_env": secret_env}.items() if v
    }
    config = make_bot_config(
        {
            "name": name,
            "strategy": strategy,
            "params": {key: getattr(parsed, key) for key in sorted(given)},
            "symbols": symbols,
            "timeframe": timeframe,
            "source": source,
            "capital": capital,
            "size": size,
            "fee": fee,
            "slippage_bps": slippage_bps,
            "broker": broker_data,
            "risk": risk,
            "alerts": {"urls": alerts},
        },
        where=name,
    )
    resolve_strategy(config, settings.strategies)
    path = save_bot_config(config, config_path(settings, name), overwrite=force)
    if as_json:
        echo_json({"name": name, "config": str(path), "schedule": config.cron})
    else:
        typer.echo(f"bot {name}: config written to {path} (schedule {config.cron})")


@bot_app.command("list")
def list_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every configured bot with its state."""
    from torchtrader.bots.config import bots_dir, load_bot_config
    from torchtrader.bots.store import StateStore

    settings = settings_of(ctx)
    folder = bots_dir(settings)
    store = StateStore(settings.state_db)
    rows = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        config = load_bot_config(path)
        info = store.bot(config.name)
        rows.append(
            {
                "name": config.name,
                "strategy": config.strategy,
                "symbols": list(config.symbols),
                "timeframe": config.timeframe,
                "broker": config.broker.kind,
                "state": info.state if info else "new",
                "config": str(path),
            }
        )
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo(f"no bots in {folder}: create one with `torchtrader bot create`")
    for row in rows:
        typer.echo(
            f"{row['name']:<20} {row['state']:<8} {row['broker']:<7} {row['strategy']} "
            f"{','.join(row['symbols'])} {row['timeframe']}"
        )


@bot_app.command("run")
def run_command(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    config_file: str | None = typer.Option(None, "--config", help="bot config file (default: bots folder)"),
    once: bool = typer.Option(False, "--once", help="run one cycle and exit"),
    loop: bool = typer.Option(False, "--loop", help="cycle on every newly closed bar until killed"),
    poll: float = typer.Option(5.0, "--poll", min=0.01, help="seconds between looks for a new bar"),
    max_cycles: int | None = typer.Option(None, "--max-cycles", hidden=True),
    at: str | None = typer.Option(
        None, "--now", hidden=True, help="run --once as if the clock read this ISO time (replays, tests)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print each cycle's report as JSON"),
) -> None:
    """Run the bot without Prefect: one cycle (--once) or a loop (--loop)."""
    from torchtrader.bots.ops import open_bot, run_loop, run_once

    if once == loop:
        raise BotError("bot run needs exactly one of --once or --loop")
    settings = settings_of(ctx)
    session = open_bot(settings, name, config_file=config_file)

    def show(report: Any) -> None:
        if isinstance(report, TorchTraderError):
            typer.echo(f"error: {' '.join(str(report).split())}", err=True)
        elif as_json:
            echo_json(report.to_json())
        else:
            orders = (
                ", ".join(f"{o.side} {o.qty:g} {o.symbol} ({o.status})" for o in report.orders) or "no orders"
            )
            bar = report.bar_ts.isoformat() if report.bar_ts else "-"
            typer.echo(f"{name} bar {bar}: {orders}; equity {report.equity:.2f} [{report.state}]")
        sys.stdout.flush()

    if once:
        show(run_once(session, settings, now=parse_when(at, "--now")))
        return
    from torchtrader.bots.config import bots_dir
    from torchtrader.ops.logging_setup import add_rotating_log, bot_log_path, json_lines_active, remove_log

    # A loop runs for months: its log goes to a size-rotated file beside the bot configs as well.
    log = add_rotating_log(bot_log_path(bots_dir(settings).parent, name), json_lines=json_lines_active())
    try:
        run_loop(session, settings, poll=poll, max_cycles=max_cycles, on_report=show)
    finally:
        remove_log(log)


@bot_app.command("status")
def status_command(
    ctx: typer.Context,
    name: str | None = typer.Argument(None),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """State, cash, equity, P&L, positions, open orders and the last cycle."""
    from torchtrader.bots.ops import status
    from torchtrader.bots.store import StateStore

    store = StateStore(settings_of(ctx).state_db)
    names = [name] if name else [b.name for b in store.bots()]
    docs = [status(store, n) for n in names]
    if as_json:
        echo_json(docs[0] if name else docs)
        return
    for doc in docs:
        last = doc["last_cycle"]
        typer.echo(
            f"{doc['name']} [{doc['state']}] {doc['broker']}: equity {doc['equity']:.2f} "
            f"cash {doc['cash']:.2f} "
            f"realized {doc['realized_pnl']:+.2f} unrealized {doc['unrealized_pnl']:+.2f}; "
            f"last cycle {last['at'] or '-'} bar {last['bar_ts'] or '-'} orders {last['orders']}"
            + (f" error: {last['error']}" if last["error"] else "")
        )
        for p in doc["positions"]:
            typer.echo(f"  {p['symbol']}: {p['qty']:g} @ {p['avg_price']:.6g} (mark {p['market_price']:.6g})")


@bot_app.command("trades")
def trades_command(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """The bot's fills, oldest first."""
    from torchtrader.bots.ops import trades
    from torchtrader.bots.store import StateStore

    rows = trades(StateStore(settings_of(ctx).state_db), name)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['ts']} {r['side']:<4} {r['qty']:g} {r['symbol']} @ {r['price']:.6g} fee {r['fee']:.6g}"
        )


@bot_app.command("halt")
def halt_command(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    flatten: bool = typer.Option(False, "--flatten", help="also close every position at market"),
    config_file: str | None = typer.Option(None, "--config"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Kill switch: halt the bot and cancel its open orders (--flatten: sell its positions)."""
    from torchtrader.bots.ops import halt_bot, open_bot

    result = halt_bot(open_bot(settings_of(ctx), name, config_file=config_file), flatten=flatten)
    if as_json:
        echo_json(result)
    else:
        typer.echo(
            f"bot {name} halted: {len(result['canceled'])} order(s) canceled, "
            f"{len(result['flatten_orders'])} flatten order(s) sent"
        )


@bot_app.command("resume")
def resume_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Let a halted bot trade again (resets its error and discrepancy counters)."""
    from torchtrader.bots.ops import resume_bot
    from torchtrader.bots.store import StateStore

    result = resume_bot(StateStore(settings_of(ctx).state_db), name)
    typer.echo(f"bot {name} resumed (was {result['was']})")


@bot_app.command("reconcile")
def reconcile_command(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    config_file: str | None = typer.Option(None, "--config"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Compare the store with the venue now: orders, fills, positions, cash."""
    from torchtrader.bots.cycle import start_up
    from torchtrader.bots.ops import open_bot

    session = open_bot(settings_of(ctx), name, config_file=config_file)
    report = start_up(session.config, session.store, session.broker)
    if as_json:
        echo_json(report.to_json())
        return
    typer.echo(
        f"bot {name}: {report.orders_checked} order(s) checked, {len(report.new_fills)} new fill(s), "
        f"{len(report.discrepancies)} discrepancy(ies)"
    )
    for d in report.discrepancies:
        typer.echo(f"  {d.kind}: {d.message}")


@db_app.command("upgrade")
def upgrade_command(
    ctx: typer.Context, revision: str = typer.Option("head", "--revision", help="target schema revision")
) -> None:
    """Migrate the state DB (Settings.state_db) to the newest schema."""
    from torchtrader.bots.store import upgrade
    from torchtrader.bots.store.schema import describe_url

    url = settings_of(ctx).state_db
    before, after = upgrade(url, revision=revision)
    typer.echo(f"state DB {describe_url(url)}: schema {before or 'empty'} -> {after}")


def register(app: typer.Typer) -> None:
    from torchtrader.cli import bot_explain  # `bot explain` (BOT-OPS)

    bot_explain.register(bot_app)
    app.add_typer(bot_app, name="bot")
    app.add_typer(db_app, name="db")
