"""Bot cycle latency through real ccxt to the loopback Binance: from a bar's close to the order leaving.

    .venv/bin/python -m bench.bench_venues [--cycles N]

A bot trading the ``flip`` strategy (an order every bar) runs ``bots.ops.run_once`` in-process for N
consecutive bars of the loopback venue's manual clock. For each cycle: t0 = the moment the bar closed
(the clock is advanced, then the cycle starts), t_order = arrival of ``POST /api/v3/order`` at the
venue, t_end = the cycle's return (reconciliation and snapshot included). Writes
docs/benchmarks/venues.md with median and p99.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "venues.md"
FLIP = '''
import torch
from torchtrader.strategies import Strategy, StrategyParams


class Flip(Strategy):
    """Target 1 on even minutes, 0 on odd minutes."""

    name = "flip"
    description = "Long on even minutes, flat on odd ones."

    class Params(StrategyParams):
        size: float = 1.0

    def positions(self, bars, p):
        even = torch.as_tensor((bars.ts // 60_000_000_000) % 2 == 0, dtype=bars.close.dtype)
        return even.expand(p.size, -1).clone()

    def warmup(self, params):
        return 1
'''


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=40)
    args = parser.parse_args()
    from torchtrader.bots.config import config_path, make_bot_config, save_bot_config
    from torchtrader.bots.ops import open_bot, run_once
    from torchtrader.config import Settings
    from torchtrader.testing.exchange import LoopbackExchange

    tmp = Path(tempfile.mkdtemp(prefix="bench-venues-"))
    (tmp / "strategies").mkdir()
    (tmp / "strategies" / "flip.py").write_text(FLIP)
    os.environ.update(BENCH_KEY="bench-key", BENCH_SECRET="bench-secret")
    to_order: list[float] = []
    whole: list[float] = []
    with LoopbackExchange(
        ("BTC/USDT",),
        manual=True,
        seed=1,
        history=60,
        api_key="bench-key",
        api_secret="bench-secret",
        balances={"USDT": 10_000.0},
    ) as venue:
        settings = Settings(
            lake=str(tmp / "lake"),
            state_db=f"sqlite:///{tmp / 'state.db'}",
            strategies=str(tmp / "strategies"),
        )
        config = make_bot_config(
            {
                "name": "bench",
                "strategy": "flip",
                "symbols": ["BTC/USDT"],
                "timeframe": "1m",
                "capital": 10_000.0,
                "size": 0.5,
                "source": "ccxt",
                "source_options": {"api_url": venue.url},
                "lookback_bars": 20,
                "broker": {
                    "kind": "ccxt",
                    "exchange": "binance",
                    "api_url": venue.url,
                    "key_env": "BENCH_KEY",
                    "secret_env": "BENCH_SECRET",
                },
            }
        )
        save_bot_config(config, config_path(settings, "bench"), overwrite=True)
        session = open_bot(settings, "bench")
        venue.advance(1)
        run_once(session, settings, now=venue.market_time())  # warm: markets loaded, lake filled
        for _ in range(args.cycles):
            venue.advance(1)
            seen = len(venue.server.requests)
            start = time.monotonic()
            run_once(session, settings, now=venue.market_time())
            end = time.monotonic()
            posts = [
                r.received_at
                for r in venue.server.requests[seen:]
                if (r.method, r.path) == ("POST", "/api/v3/order")
            ]
            whole.append(end - start)
            if posts:
                to_order.append(posts[0] - start)
        session.store.close()
    lines = [
        "# Venues: bot cycle latency through ccxt to the loopback Binance",
        "",
        f"`python -m bench.bench_venues --cycles {args.cycles}` (in-process `run_once`, real ccxt, real "
        "SQLite store, flip strategy = one order per bar; 2 shared cores, other jobs running).",
        "",
        "| measure | cycles | median | p99 |",
        "|---|---|---|---|",
        f"| bar close → order at the venue | {len(to_order)} | {statistics.median(to_order) * 1000:.0f} ms | "
        f"{percentile(to_order, 0.99) * 1000:.0f} ms |",
        f"| whole cycle (ingest, reconcile ×2, order, snapshot) | {len(whole)} | "
        f"{statistics.median(whole) * 1000:.0f} ms | {percentile(whole, 0.99) * 1000:.0f} ms |",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
