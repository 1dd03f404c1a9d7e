"""The bot cycle against the real paper venue on synthetic bars ingested through the real ingest path.

The headline check: a paper bot stepped bar by bar makes exactly the fills the backtest engine makes
on the same bars (``runner.backtest`` with the bot's fee, slippage and fees-in-sizing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.bots.conftest import AmbiguousPaperBroker, DiesAfterAccepting, DyingPaperBroker, hour
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.runner import SeriesRef, backtest
from torchtrader.bots.config import BotConfig, make_broker
from torchtrader.bots.cycle import run_cycle, start_up
from torchtrader.bots.paper import LakePriceFeed, PaperBroker
from torchtrader.bots.store import StateStore
from torchtrader.bots.store import models as m
from torchtrader.errors import BotError, VenueUnavailableError
from torchtrader.lake import Lake

MakeConfig = Callable[..., BotConfig]


def _paper(
    cls: type[PaperBroker], config: BotConfig, store: StateStore, lake: Lake, **kw: int
) -> PaperBroker:
    feed = LakePriceFeed(lake, config.timeframe, config.source)
    return cls(
        store,
        config.name,
        feed,
        initial_cash=config.capital,
        fee=config.fee,
        slippage_bps=config.slippage_bps,
        **kw,
    )


def _venue_orders(store: StateStore, account: str) -> list[str]:
    from sqlalchemy import select

    with store.session() as s:
        return list(
            s.scalars(select(m.PaperOrderRow.client_order_id).where(m.PaperOrderRow.account == account))
        )


@pytest.mark.slow
def test_a_paper_bot_fills_exactly_like_the_backtest(
    tmp_path: Path, state_url: str, bot_config: MakeConfig
) -> None:
    config = bot_config()
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    broker = make_broker(config, store=store, lake=lake)
    for i in range(8, 48):  # cycle i runs as bar i opens: bars 0 .. i-1 are closed
        report = run_cycle(config, store, broker, lake, now=hour(i))
        assert report.state == "running" and not report.discrepancies
    fills = store.fills(config.name)
    assert len(fills) >= 6

    # the bot acts first on the decision at bar 7 (its first cycle sees bars 0..7): the backtest
    # starts trading flat there, the earlier bars only warm the strategy up
    result = backtest(
        lake,
        SeriesRef("BTC/USDT", "1h", "synthetic"),
        "sma_cross",
        {"fast": 2, "slow": 5},
        BacktestConfig(initial_cash=10_000.0, fee=0.001, slippage_bps=5.0, fees_in_sizing=True),
        start=hour(7),
    )
    expected = []
    for trade in result.trades:
        expected.append(("buy", trade.entry_time, trade.entry_price, trade.size))
        if trade.exit_reason != "end":  # the bot still holds what the backtest closes at the end
            expected.append(("sell", trade.exit_time, trade.exit_price, trade.size))
    actual = [(f.side, f.ts, f.price, f.qty) for f in fills]
    assert [(s, t) for s, t, _, _ in actual] == [(s, t) for s, t, _, _ in expected]
    for (_, _, price, qty), (_, _, want_price, want_qty) in zip(actual, expected, strict=True):
        assert price == pytest.approx(want_price, rel=1e-12)
        assert qty == pytest.approx(want_qty, rel=1e-9)
    # equity: the snapshot of cycle i marks the book at bar i-1's close, the backtest's curve row
    # i-8 (its rows start at bar 7); the last row is the backtest's end-of-data close, left out
    curve = result.equity["equity"].to_list()
    snapshots = [p.equity for p in store.equity(config.name)]
    assert len(snapshots) == len(curve) == 40
    assert snapshots[:-1] == pytest.approx(curve[:-1], rel=1e-9)


def test_rerunning_a_cycle_sends_nothing_twice(
    tmp_path: Path, state_url: str, bot_config: MakeConfig
) -> None:
    config = bot_config()
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    broker = make_broker(config, store=store, lake=lake)
    placed = []
    for i in range(8, 30):
        first = run_cycle(config, store, broker, lake, now=hour(i))
        again = run_cycle(config, store, broker, lake, now=hour(i))
        placed += first.orders
        assert again.orders == () or all(o.status != "intent" for o in again.orders)
    venue = _venue_orders(store, config.name)
    assert placed and len(venue) == len(set(venue)) == len(store.orders(config.name))


def _first_trade_bar(config: BotConfig, tmp_path: Path) -> int:
    """The first cycle that places an order (on a throwaway store and lake)."""
    lake, store = Lake(str(tmp_path / "probe-lake")), StateStore(f"sqlite:///{tmp_path / 'probe.db'}")
    broker = make_broker(config, store=store, lake=lake)
    for i in range(8, 60):
        if run_cycle(config, store, broker, lake, now=hour(i)).orders:
            return i
    raise AssertionError("no trade in 60 bars")


def test_an_ambiguous_submit_is_resolved_by_lookup_not_resent(
    tmp_path: Path, state_url: str, bot_config: MakeConfig
) -> None:
    config = bot_config()
    at = _first_trade_bar(config, tmp_path)
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    broker = _paper(AmbiguousPaperBroker, config, store, lake, times=1)
    run_cycle(config, store, broker, lake, now=hour(at - 1))
    report = run_cycle(config, store, broker, lake, now=hour(at))
    assert broker.submits == 1  # timed out once, never sent again
    [order] = report.orders
    assert order.status == "new" and order.venue_order_id == "P1"
    assert _venue_orders(store, config.name) == [order.client_order_id]
    run_cycle(config, store, broker, lake, now=hour(at + 1))
    assert [f.client_order_id for f in store.fills(config.name)] == [order.client_order_id]


def test_a_bot_killed_between_accept_and_confirm_recovers_without_a_duplicate(
    tmp_path: Path, state_url: str, bot_config: MakeConfig
) -> None:
    config = bot_config()
    at = _first_trade_bar(config, tmp_path)
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    dying = _paper(DyingPaperBroker, config, store, lake)
    run_cycle(config, store, dying, lake, now=hour(at - 1))
    with pytest.raises(DiesAfterAccepting):
        run_cycle(config, store, dying, lake, now=hour(at))
    [intent] = store.orders(config.name)
    assert intent.status == "intent"  # persisted before sending, never confirmed

    restarted_store = StateStore(state_url)
    broker = make_broker(config, store=restarted_store, lake=lake)
    start_up(config, restarted_store, broker)
    assert restarted_store.order(intent.client_order_id).status == "new"  # type: ignore[union-attr]
    report = run_cycle(config, restarted_store, broker, lake, now=hour(at))
    assert report.orders == ()
    assert _venue_orders(restarted_store, config.name) == [intent.client_order_id]


class FlakyVenue(PaperBroker):
    def balances(self):  # type: ignore[no-untyped-def]
        raise VenueUnavailableError("503 from the venue")


def test_the_error_budget_halts_after_n_failed_cycles(
    tmp_path: Path, state_url: str, bot_config: MakeConfig
) -> None:
    config = bot_config(risk={"error_budget": 2})
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    broker = _paper(FlakyVenue, config, store, lake)
    for i in (10, 11):
        with pytest.raises(VenueUnavailableError):
            run_cycle(config, store, broker, lake, now=hour(i))
    info = store.require_bot(config.name)
    assert info.state == "halted" and "error budget" in (info.state_reason or "")
    assert [e.kind for e in store.events(config.name)][-3:] == ["error", "error", "halt"]
    with pytest.raises(BotError, match=r"is halted .* bot resume alpha"):
        run_cycle(config, store, make_broker(config, store=store, lake=lake), lake, now=hour(12))
    assert _venue_orders(store, config.name) == []


def test_a_venue_that_disagrees_with_the_store_halts_the_bot(
    tmp_path: Path, state_url: str, bot_config: MakeConfig
) -> None:
    config = bot_config()
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    broker = make_broker(config, store=store, lake=lake)
    run_cycle(config, store, broker, lake, now=hour(8))
    with store.session() as s:  # someone moved cash out of the account behind the bot's back
        s.execute(update(m.PaperBalanceRow).values(total=9_000.0).where(m.PaperBalanceRow.currency == "USDT"))
    report = run_cycle(config, store, broker, lake, now=hour(9))
    assert report.state == "halted" and report.orders == ()
    assert [d.kind for d in report.discrepancies] == ["cash"]
    kinds = [e.kind for e in store.events(config.name)]
    assert kinds[-2:] == ["discrepancy", "halt"]


def test_fills_and_equity_reach_the_lake(tmp_path: Path, state_url: str, bot_config: MakeConfig) -> None:
    config = bot_config()
    lake, store = Lake(str(tmp_path / "lake")), StateStore(state_url)
    broker = make_broker(config, store=store, lake=lake)
    for i in range(8, 26):
        run_cycle(config, store, broker, lake, now=hour(i))
    equity = lake.read_table("bot_equity")
    fills = lake.read_table("bot_fills")
    assert equity.height == len(store.equity(config.name)) == 18
    assert sorted(fills["fill_id"].to_list()) == sorted(f.fill_id for f in store.fills(config.name))
