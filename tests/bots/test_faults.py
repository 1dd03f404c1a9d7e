"""Fault tests: the real `torchtrader bot run NAME --once` against the loopback Binance through real ccxt.

The bot runs in forked children of one pre-imported "zygote" process per module (a fresh interpreter
per cycle would spend seconds importing torch); each child takes its test's environment and folder,
then is the CLI entry point, exactly as the console script runs it. A SIGKILL lands at the k-th
request a cycle makes (k seeded), either before the venue acts on it or after the venue acted but
before the reply leaves — the worst moment for an order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from torchtrader.bots.config import config_path, make_bot_config, save_bot_config
from torchtrader.bots.store import StateStore
from torchtrader.bots.store.models import INTENT, UNSENT
from torchtrader.config import Settings
from torchtrader.testing.binance_server import Request, Response
from torchtrader.testing.exchange import LoopbackExchange

pytestmark = pytest.mark.slow
BOT, BTC, KEY, SECRET = "flipper", "BTC/USDT", "fault-key-31337", "fault-secret-27182"
TRIALS = 20

FLIP = '''
"""flip: long on bars opening at an even minute, flat on odd ones: an order every bar."""

from __future__ import annotations

import torch
from torch import Tensor

from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams


class Flip(Strategy):
    """Target 1 on even minutes, 0 on odd minutes."""

    name = "flip"
    description = "Long on even minutes, flat on odd ones."

    class Params(StrategyParams):
        size: float = 1.0

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        even = torch.as_tensor((bars.ts // 60_000_000_000) % 2 == 0, dtype=bars.close.dtype)
        return even.expand(p.size, -1).clone()

    def warmup(self, params: StrategyParams) -> int:
        return 1
'''

ZYGOTE = r"""
import json, os, sys
import torchtrader.cli, torchtrader.bots.ops, torchtrader.bots.ccxt_broker, torchtrader.sources.ccxt_source
import torch, ccxt, polars, sqlalchemy  # noqa: F401  (paid once, shared by every forked cycle)
if __name__ == "__main__":
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.environ.update(job["env"])
            os.chdir(job["cwd"])
            fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1); os.dup2(fd, 2)
            code = 0
            try:
                torchtrader.cli.main(job["args"])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                code = 3
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        print(json.dumps({"rc": rc}), flush=True)
"""


class Killer:
    """Wraps the venue's dispatch: SIGKILLs ``pid`` at request number ``at`` (before or after acting)."""

    def __init__(self, venue: LoopbackExchange) -> None:
        self.inner = venue.server.handle
        self.pid: int | None = None
        self.at: int | None = None
        self.after = False
        self.seen = 0
        self.killed = False
        venue.server.handle = self.handle  # type: ignore[method-assign]

    def arm(self, pid: int, at: int | None, after: bool) -> None:
        self.pid, self.at, self.after, self.seen, self.killed = pid, at, after, 0, False

    def _kill(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        self.killed = True

    def handle(self, request: Request) -> Response | None:
        self.seen += 1
        due = self.at is not None and self.seen == self.at and not self.killed
        if due and not self.after:
            self._kill()
            return None
        response = self.inner(request)
        if due:
            self._kill()
            return None
        return response


@pytest.fixture(scope="module")
def zygote() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        yield process
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        process.wait(timeout=60)
        process.stdout.close()


class Harness:
    def __init__(self, tmp: Path, venue: LoopbackExchange, zygote: subprocess.Popen[str]) -> None:
        self.venue, self.tmp = venue, tmp
        self.lake = str(tmp / "lake")
        self.db = f"sqlite:///{tmp / 'state.db'}"
        self.log = str(tmp / "bot.log")
        self.env = {
            "TORCHTRADER_STATE_DB": self.db,
            "TORCHTRADER_STRATEGIES": str(tmp / "strategies"),
            "FAULT_KEY": KEY,
            "FAULT_SECRET": SECRET,
        }
        self.zygote = zygote
        self.killer = Killer(venue)
        self.requests_seen = 0

    def to_buy_bar(self) -> None:
        """Advance until the last closed bar opened at an even minute: the flip strategy wants to buy."""
        self.venue.advance(1)
        last_closed = self.venue.clock() // 60_000 - 1
        if last_closed % 2:
            self.venue.advance(1)

    def run(self, *, kill_at: int | None = None, after: bool = False) -> int:
        """One `bot run --once` at the venue's market time; the child's exit code (-9: killed)."""
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        args = [
            "--lake",
            self.lake,
            "bot",
            "run",
            BOT,
            "--once",
            "--now",
            self.venue.market_time().isoformat(),
        ]
        self.killer.arm(-1, None, False)
        job = {"args": args, "log": self.log, "env": self.env, "cwd": str(self.tmp)}
        self.zygote.stdin.write(json.dumps(job) + "\n")
        self.zygote.stdin.flush()
        pid = json.loads(self.zygote.stdout.readline())["pid"]
        self.killer.arm(pid, kill_at, after)
        rc: int = json.loads(self.zygote.stdout.readline())["rc"]
        self.requests_seen = self.killer.seen
        self.killer.arm(-1, None, False)
        return rc

    def store(self) -> StateStore:
        return StateStore(self.db)


@pytest.fixture
def harness(tmp_path: Path, zygote: subprocess.Popen[str]) -> Iterator[Callable[..., Harness]]:
    made: list[LoopbackExchange] = []

    def make(*, error_budget: int = 3, faults: str | None = None, backoff_s: float | None = None) -> Harness:
        (tmp_path / "strategies").mkdir(exist_ok=True)
        (tmp_path / "strategies" / "flip.py").write_text(FLIP)
        venue = LoopbackExchange(
            (BTC,),
            manual=True,
            seed=7,
            history=60,
            api_key=KEY,
            api_secret=SECRET,
            balances={"USDT": 1_000.0},
            faults=faults,
        )
        venue.__enter__()
        venue.faults.hang_s = 1.0
        h = Harness(tmp_path, venue, zygote)
        config = make_bot_config(
            {
                "name": BOT,
                "strategy": "flip",
                "symbols": [BTC],
                "timeframe": "1m",
                "capital": 1_000.0,
                "size": 0.5,
                "source": "ccxt",
                "source_options": {"api_url": venue.url},
                "lookback_bars": 20,
                "risk": {"error_budget": error_budget},
                "broker": {
                    "kind": "ccxt",
                    "exchange": "binance",
                    "api_url": venue.url,
                    "key_env": "FAULT_KEY",
                    "secret_env": "FAULT_SECRET",
                    # ccxt's throttler stays on, spaced for a loopback venue that has no limits: at
                    # Binance's 50 ms a weight unit, one cycle's ~20 requests spend 4-5 s asleep
                    "exchange_options": {"rateLimit": 1},
                    "backoff_s": backoff_s,
                },
            }
        )
        settings = Settings(lake=h.lake, state_db=h.db, strategies=str(tmp_path / "strategies"))
        save_bot_config(config, config_path(settings, BOT), overwrite=True)
        made.append(venue)
        return h

    yield make
    for venue in made:
        venue.__exit__()


def sent_client_ids(store: StateStore) -> list[str]:
    return sorted(o.client_order_id for o in store.orders(BOT) if o.status not in (INTENT, UNSENT))


def assert_agree(h: Harness) -> None:
    """No order twice, and the store's book equals the venue's account."""
    venue_ids = [o.client_order_id for o in h.venue.trading.book.orders]
    assert len(venue_ids) == len(set(venue_ids))
    store = h.store()
    try:
        assert sorted(venue_ids) == sent_client_ids(store)
        book = store.book(BOT)
        assert book.qty(BTC) == pytest.approx(h.venue.trading.book.total("BTC"), abs=1e-9)
        assert book.cash == pytest.approx(h.venue.trading.book.total("USDT"), abs=1e-6)
    finally:
        store.close()


def test_sigkill_at_seeded_points_of_a_cycle_never_duplicates_orders(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.to_buy_bar()
    assert h.run() == 0  # a clean first cycle: how many requests one makes
    assert_agree(h)
    requests_per_cycle = h.requests_seen
    rng = random.Random(20261202)
    killed = 0
    for _ in range(TRIALS):
        h.venue.advance(1)  # a new bar closes: the strategy flips, so the cycle sends an order
        rc = h.run(kill_at=rng.randint(1, requests_per_cycle), after=rng.random() < 0.5)
        killed += rc == -signal.SIGKILL
        assert h.run() == 0, Path(h.log).read_text()[-2000:]  # restart on the same bar: recovers
        assert_agree(h)
    assert killed >= TRIALS // 2  # the kills really landed inside cycles
    orders = h.venue.trading.book.orders
    assert len(orders) >= TRIALS // 2  # and the bot really traded through them


def test_timeout_after_accept_gives_exactly_one_order(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.to_buy_bar()
    h.venue.faults.force("accept_timeout")  # the venue fills the order; its reply never arrives
    assert h.run() == 0  # AmbiguousOrderError resolved by lookup, not by sending again
    assert h.run() == 0
    posts = [r for r in h.venue.server.requests if (r.method, r.path) == ("POST", "/api/v3/order")]
    assert len(posts) == 1 and len(h.venue.trading.book.orders) == 1
    assert_agree(h)


def test_partial_fill_is_tracked_and_the_rest_reconciled(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.to_buy_bar()
    h.venue.faults.force("partial")
    assert h.run() == 0
    order = h.venue.trading.book.orders[0]
    assert order.status == "PARTIALLY_FILLED"
    assert_agree(h)  # the position is the filled half
    h.venue.advance(1)  # the rest fills at the next open; the next cycle reconciles it
    assert h.run() == 0
    assert h.venue.trading.book.orders[0].status in ("FILLED", "CANCELED")
    assert_agree(h)


@pytest.mark.parametrize("fault", ["reject", "insufficient"])
def test_refused_orders_are_recorded_alerted_and_never_resent(
    harness: Callable[..., Harness], fault: str
) -> None:
    h = harness()
    h.to_buy_bar()
    h.venue.faults.force(fault)
    h.run()
    posts = [r for r in h.venue.server.requests if (r.method, r.path) == ("POST", "/api/v3/order")]
    h.run()  # the same bar again: nothing is resent
    assert [r for r in h.venue.server.requests if (r.method, r.path) == ("POST", "/api/v3/order")] == posts
    assert len(posts) == 1 and h.venue.trading.book.orders == []
    store = h.store()
    try:
        assert [o.status for o in store.orders(BOT)] == ["rejected"]
        assert store.events(BOT, kinds=["order_rejected"])
    finally:
        store.close()


def test_5xx_storm_backs_off_then_halts_after_the_error_budget(harness: Callable[..., Harness]) -> None:
    h = harness(error_budget=2, backoff_s=0.05)  # the default 0.5 s doubles to 7.5 s asleep a cycle
    h.to_buy_bar()
    assert h.run() == 0
    h.venue.faults.set_rate("5xx", 1.0)
    codes = []
    for _ in range(3):
        h.venue.advance(1)
        codes.append(h.run())
    assert codes[:2] == [1, 1]
    log = Path(h.log).read_text()
    # each failing cycle backed off exponentially (0.05, 0.1, 0.2, 0.4 s) before giving up
    assert log.count("retry 4 in 0.40s") >= 2 and "failed after 5 attempt(s)" in log
    store = h.store()
    try:
        assert store.require_bot(BOT).state == "halted"
        assert store.events(BOT, kinds=["halt"])
    finally:
        store.close()
    h.venue.faults.set_rate("5xx", 0.0)
    assert_agree(h)
