"""`torchtrader bot explain NAME`: the bot's fills against the backtest of the same bars.

``--json OUT`` writes the document of ``torchtrader.bots.explain.Explanation.to_json`` (see
docs/alerts.md, "bot explain") to OUT (``-`` = stdout); without it a table is printed.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from torchtrader.cli.common import settings_of, write_json


def register(bot_app: typer.Typer) -> None:
    bot_app.command("explain")(explain)


def explain(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the bot's name"),
    json_out: str | None = typer.Option(
        None, "--json", help="write the explanation JSON to OUT ('-' = stdout)"
    ),
) -> None:
    """Live versus backtest: per fill the modelled and actual price, fee and timing; the P&L gap."""
    from torchtrader.bots.explain import explain_bot
    from torchtrader.bots.store import StateStore
    from torchtrader.lake import Lake

    settings = settings_of(ctx)
    store = StateStore(settings.state_db, create=False)
    try:
        result = explain_bot(
            name, store=store, lake=Lake.from_settings(settings), strategies_dir=settings.strategies
        )
    finally:
        store.close()
    document = result.to_json()
    if json_out is not None:
        write_json(json_out, document)
    if json_out != "-":
        _print(document)


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _side(execution: dict[str, Any] | None) -> tuple[str, str, str]:
    if execution is None:
        return "-", "-", "-"
    return _number(execution["price"]), _number(execution["qty"], 6), _number(execution["fee"])


def _print(document: dict[str, Any]) -> None:
    console = Console()
    span = f"{document['start'] or '-'} .. {document['end'] or '-'}"
    table = Table(title=f"bot {document['name']}: {document['strategy']} {document['params']}, {span}")
    for column in ("symbol", "side", "decision bar", "actual price", "actual qty", "actual fee"):
        table.add_column(column)
    for column in ("model price", "model qty", "model fee", "price gap", "fee gap", "delay s"):
        table.add_column(column, justify="right")
    table.add_column("cum cost gap", justify="right")
    for fill in document["fills"]:
        note = "" if fill["actual"] or not fill["status"] else f" ({fill['status']})"
        table.add_row(
            fill["symbol"],
            fill["side"] + note,
            fill["decision_bar"],
            *_side(fill["actual"]),
            *_side(fill["modelled"]),
            _number(fill["price_gap"]),
            _number(fill["fee_gap"]),
            _number(fill["delay_s"], 1),
            _number(fill["cum_cost_gap"]),
        )
    console.print(table)
    pnl = document["pnl"]
    console.print(
        f"P&L actual {_number(pnl['actual'], 2)}  modelled {_number(pnl['modelled'], 2)}  "
        f"gap {_number(pnl['gap'], 2)}  ({document['matched']} matched, "
        f"{document['unmatched']} unmatched)"
    )
