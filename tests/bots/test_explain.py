"""bot explain: the bot's fills against a backtest of the same bars.

Pure accounting as tables worked by hand, then real paper bots run cycle by cycle on synthetic
bars: a paper venue with the bot's own costs matches the model (gap 0); a venue that slips 20 bps
the bot does not know about shows exactly that slippage, fill by fill, against the lake's opens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from torchtrader.bots.explain import Execution, Leg, compare, explain_bot, pnl

T = [datetime(2026, 1, 5, h, tzinfo=UTC) for h in range(6)]


def _leg(side: str, bar: int, price: float, qty: float, fee: float, *, delay: float = 0.0) -> Leg:
    at = T[bar + 1] + timedelta(seconds=delay)
    return Leg("BTC/USDT", side, T[bar], Execution(at, price, qty, fee), f"id-{side}-{bar}", "filled")


def test_pairs_by_symbol_bar_and_side_with_gaps_worked_by_hand() -> None:
    actual = [_leg("buy", 0, 101.0, 2.0, 0.21, delay=1.5), _leg("sell", 2, 109.0, 2.0, 0.22)]
    modelled = [_leg("buy", 0, 100.0, 2.0, 0.20), _leg("sell", 2, 110.0, 2.0, 0.22)]
    buy, sell = compare(actual, modelled)
    # buy: paid 1 more per unit on 2 units, and 0.01 more fee
    assert (buy.price_gap, buy.qty_gap, buy.delay_s) == (1.0, 0.0, 1.5)
    assert buy.fee_gap == pytest.approx(0.01)
    assert buy.cost_gap == pytest.approx(2.01)
    # sell: got 1 less per unit on 2 units
    assert sell.price_gap == -1.0 and sell.cost_gap == pytest.approx(2.0)
    assert sell.cum_cost_gap == pytest.approx(4.01)
    marks = {"BTC/USDT": 120.0}
    # actual: -2*101 - 0.21 + 2*109 - 0.22 = 15.57; modelled: -200.2 + 219.78 = 19.58
    assert pnl(actual, marks) == pytest.approx(15.57)
    assert pnl(modelled, marks) == pytest.approx(19.58)
    assert pnl(actual, marks) - pnl(modelled, marks) == pytest.approx(-sell.cum_cost_gap)


def test_unpaired_legs_stand_alone_in_time_order() -> None:
    rejected = Leg("BTC/USDT", "buy", T[0], None, "id-r", "rejected", "insufficient funds")
    extra = _leg("sell", 3, 90.0, 1.0, 0.0)
    rows = compare([extra, rejected], [_leg("buy", 0, 100.0, 1.0, 0.1)])
    assert [(r.side, r.decision_bar, r.matched) for r in rows] == [
        ("buy", T[0], False),  # the model bought; the venue refused the bot's order
        ("buy", T[0], False),
        ("sell", T[3], False),  # the bot sold what the model never did
    ]
    modelled_only, refused, bot_only = rows
    assert modelled_only.actual is None and modelled_only.modelled is not None
    assert (refused.status, refused.error, refused.price_gap) == (
        "rejected",
        "insufficient funds",
        None,
    )
    assert bot_only.modelled is None and bot_only.cum_cost_gap == 0.0
    # held positions are marked: the bot's lone sell of 1 at 90 leaves -1 held at 95
    assert pnl([extra, rejected], {"BTC/USDT": 95.0}) == pytest.approx(90.0 - 95.0)


# ------------------------------------------------------------------ real paper bots
START = datetime(2026, 1, 5, tzinfo=UTC)
CYCLES = 30


def _run_bot(tmp_path: Path, *, venue_slippage_bps: float | None = None, **config: Any) -> Any:
    from torchtrader.bots.config import make_bot_config, make_broker
    from torchtrader.bots.cycle import run_cycle
    from torchtrader.bots.paper import LakePriceFeed, PaperBroker
    from torchtrader.bots.store import StateStore
    from torchtrader.lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    store = StateStore(f"sqlite:///{tmp_path}/state.db")
    bot = make_bot_config(
        {
            "name": "b1",
            "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8},
            "symbols": ["BTC/USDT"],
            "timeframe": "1h",
            "capital": 10_000,
            "lookback_bars": 30,
            **config,
        }
    )
    if venue_slippage_bps is None:
        broker = make_broker(bot, store=store, lake=lake)
    else:  # a venue that slips more than the bot's config says
        feed = LakePriceFeed(lake, bot.timeframe, bot.source)
        broker = PaperBroker(
            store,
            bot.name,
            feed,
            initial_cash=bot.capital,
            fee=bot.fee,
            slippage_bps=venue_slippage_bps,
        )
    for k in range(CYCLES):
        run_cycle(bot, store, broker, lake, now=START + timedelta(hours=k, minutes=1))
    return store, lake


@pytest.fixture(scope="module")
def exact_bot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return _run_bot(tmp_path_factory.mktemp("exact"), fee=0.001, slippage_bps=5)


def test_paper_fills_equal_the_model(exact_bot: tuple[Any, Any]) -> None:
    store, lake = exact_bot
    explained = explain_bot("b1", store=store, lake=lake)
    fills = explained.fills
    assert len(fills) >= 4, "the bot should have traded a few round trips"
    assert all(f.matched for f in fills)
    assert len(fills) == len(store.fills("b1"))
    for f in fills:
        assert f.price_gap == pytest.approx(0.0, abs=1e-9)
        assert f.delay_s == 0.0
        # the bot keeps 1e-12 of its cash back against rounding: nothing more
        assert f.qty_gap == pytest.approx(0.0, abs=1e-9)
        assert f.fee_gap == pytest.approx(0.0, abs=1e-9)
    assert explained.pnl_actual != 0.0
    assert explained.pnl_gap == pytest.approx(0.0, abs=1e-6)
    assert explained.config["fees_in_sizing"] is True
    assert explained.start == START - timedelta(hours=1)  # the first cycle decides at the last closed bar
    assert explained.end == START + timedelta(hours=CYCLES - 1)


def test_explaining_is_deterministic(exact_bot: tuple[Any, Any]) -> None:
    store, lake = exact_bot
    first = explain_bot("b1", store=store, lake=lake).to_json()
    assert explain_bot("b1", store=store, lake=lake).to_json() == first
    json.dumps(first, allow_nan=False)


def test_a_slipping_venue_shows_its_slippage_worked_by_hand(tmp_path: Path) -> None:
    # The bot models no slippage; the venue fills buys at open x 1.002, sells at open x 0.998. Half
    # the equity per trade, so the unexpected slippage never makes a buy unaffordable.
    store, lake = _run_bot(tmp_path, venue_slippage_bps=20, fee=0.001, size=0.5)
    explained = explain_bot("b1", store=store, lake=lake)
    fills = explained.fills
    assert len(fills) >= 4 and all(f.matched for f in fills)
    bars = lake.read_bars("BTC/USDT", "1h", source="synthetic")
    opens = dict(zip(bars["ts"].to_list(), bars["open"].to_list(), strict=True))
    for f in fills:
        assert f.modelled is not None and f.actual is not None
        open_ = opens[f.modelled.ts]
        assert f.modelled.price == pytest.approx(open_, rel=1e-12)
        sign = 1 if f.side == "buy" else -1
        assert f.price_gap == pytest.approx(sign * 0.002 * open_, rel=1e-9)
        assert f.actual.fee == pytest.approx(0.001 * f.actual.qty * open_ * (1 + sign * 0.002))
    # first round trip: same equity on both sides, so the same quantity q; the bot pays
    # 0.002 q open_b (1 + fee) more on the buy and receives 0.002 q open_s (1 - fee) less on the sell
    buy, sell = fills[0], fills[1]
    assert buy.qty_gap == pytest.approx(0.0, abs=1e-9)
    q = buy.actual.qty  # type: ignore[union-attr]
    open_b, open_s = opens[buy.modelled.ts], opens[sell.modelled.ts]  # type: ignore[union-attr]
    expected = 0.002 * q * (1.001 * open_b + 0.999 * open_s)
    assert sell.cum_cost_gap == pytest.approx(expected, rel=1e-6)
    assert explained.pnl_gap < 0  # slippage only ever costs the bot
    # P&L from the store's fills, independently: cash flows plus what is held at the last close
    cash, held = 0.0, 0.0
    for fill in store.fills("b1"):
        sign = 1 if fill.side == "buy" else -1
        cash -= sign * fill.qty * fill.price + fill.fee
        held += sign * fill.qty
    mark = explained.marks["BTC/USDT"]
    assert explained.pnl_actual == pytest.approx(cash + held * mark, rel=1e-12)


def test_cli_explain_json_and_table(
    exact_bot: tuple[Any, Any], run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, lake = exact_bot
    monkeypatch.setenv("TORCHTRADER_STATE_DB", store.url)
    done = run_cli(lake.uri, "bot", "explain", "b1", "--json", "-")
    assert done.code == 0, done.err
    document = done.json()
    assert document["name"] == "b1" and document["unmatched"] == 0
    assert set(document["fills"][0]) >= {"symbol", "side", "actual", "modelled", "price_gap"}
    assert set(document["fills"][0]["actual"]) == {"ts", "price", "qty", "fee"}
    assert set(document["pnl"]) == {"actual", "modelled", "gap"}
    table = run_cli(lake.uri, "bot", "explain", "b1")
    assert table.code == 0 and "P&L actual" in table.out


def test_cli_unknown_bot_is_one_line(
    exact_bot: tuple[Any, Any], run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, lake = exact_bot
    monkeypatch.setenv("TORCHTRADER_STATE_DB", store.url)
    done = run_cli(lake.uri, "bot", "explain", "nobody", "--json", "-")
    assert done.code == 1
    assert done.err.startswith("error: ") and done.err.count("\n") == 1
    assert "nobody" in done.err
