"""Bot controls behind the dashboard: the library calls ``torchtrader bot halt/resume`` make, plus a
force-exit of one position, each audited with the dashboard user (``actor = ui:<name>``) and time.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from torchtrader.bots.broker import OrderRequest
from torchtrader.bots.market import forming_bar
from torchtrader.bots.monitor import notify
from torchtrader.bots.ops import BotSession, halt_bot, open_bot, resume_bot
from torchtrader.bots.planning import client_order_id
from torchtrader.bots.store import OrderIntent, StateStore, utcnow
from torchtrader.config import Settings
from torchtrader.errors import OrderRejectedError, TorchTraderError
from torchtrader.ui.auth import UiError
from torchtrader.ui.users import User

logger = logging.getLogger(__name__)
Action = Literal["halt", "resume", "flatten", "force_exit"]
ACTIONS: tuple[Action, ...] = ("halt", "resume", "flatten", "force_exit")


def _session(settings: Settings, name: str) -> BotSession:
    try:
        return open_bot(settings, name)
    except TorchTraderError as error:
        raise UiError(409, f"bot {name!r} cannot be controlled: {' '.join(str(error).split())}") from None


def force_exit(session: BotSession, symbol: str) -> dict[str, Any]:
    """Sell the bot's whole position in ``symbol`` at market now (the bot's state is unchanged)."""
    config, store, broker = session.config, session.store, session.broker
    position = store.book(config.name).positions.get(symbol)
    if position is None or position.qty <= 0:
        raise UiError(404, f"bot {config.name!r} holds no position in {symbol!r}: nothing to exit")
    pending = [o for o in store.open_orders(config.name) if o.symbol == symbol and o.side == "sell"]
    if pending:
        raise UiError(
            409, f"bot {config.name!r} already has an open sell order for {symbol}: wait for its fill"
        )
    now = utcnow()
    coid = client_order_id(config.name, symbol, now, "flatten")
    price = position.market_price or position.avg_price or 0.0
    bar = forming_bar(now, config.timeframe)
    store.add_intents([OrderIntent(coid, config.name, symbol, "sell", position.qty, "flatten", bar, price)])
    try:
        state = broker.submit(OrderRequest(coid, symbol, "sell", position.qty))
    except OrderRejectedError as error:
        store.mark_order(coid, "rejected", str(error))
        notify(config, store, "order_rejected", f"force-exit {symbol} refused: {error}")
        raise UiError(409, f"force-exit of {symbol} was refused by the venue: {error}") from None
    order = store.confirm(state)
    return {"name": config.name, "symbol": symbol, "order": order.client_order_id, "status": order.status}


def control(
    settings: Settings, store: StateStore, user: User, name: str, action: Action, symbol: str | None = None
) -> dict[str, Any]:
    """Run ``action`` on bot ``name`` for ``user`` (an admin) and audit who did it."""
    if store.bot(name) is None:
        raise UiError(404, f"bot {name!r} is not in the state DB: check the name on the overview page")
    if action == "resume":
        result = resume_bot(store, name)
    else:
        session = _session(settings, name)
        try:
            if action == "force_exit":
                if not symbol:
                    raise UiError(422, "force_exit needs the position's symbol")
                result = force_exit(session, symbol)
            else:
                result = halt_bot(
                    session, flatten=action == "flatten", reason=f"halted from the dashboard by {user.name}"
                )
        except TorchTraderError as error:
            raise UiError(409, f"{action} of bot {name!r} failed: {' '.join(str(error).split())}") from None
        finally:
            session.store.close()
    store.add_audit(name, f"ui_{action}", {"symbol": symbol} if symbol else {}, actor=f"ui:{user.name}")
    logger.info("bot %s: %s by %s", name, action, user.name)
    return result
