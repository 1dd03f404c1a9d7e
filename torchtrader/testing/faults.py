"""Seeded fault injection for the loopback venues: each kind fires on a fraction of the requests.

    plan = FaultPlan.parse("429=0.1,accept_timeout=0.05,partial=0.2", seed=7)
    if plan.roll("429"): ...

The same seed and the same request sequence give the same faults, so a failing fault test reruns
identically. Kinds:

- ``latency``: the request waits ``latency_s`` before it is served;
- ``429``: rate limited (with ``Retry-After``); ``5xx``: an internal error; both before any work;
- ``timeout``: the connection is held, then dropped, before the request is processed;
- ``accept_timeout``: an order is accepted (and may fill), then the reply is never sent;
- ``partial``: a market order fills only part now; the rest fills on the next bar;
- ``reject``: the order is refused; ``insufficient``: refused for insufficient balance.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping

from torchtrader.errors import ConfigError

FAULT_RATE_KINDS: tuple[str, ...] = (
    "latency",
    "429",
    "5xx",
    "timeout",
    "accept_timeout",
    "partial",
    "reject",
    "insufficient",
)


class FaultPlan:
    """Per-kind probabilities and a seeded generator; thread-safe (the servers are threaded)."""

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        seed: int = 0,
        latency_s: float = 0.05,
        hang_s: float = 1.0,
        retry_after_s: int = 1,
    ) -> None:
        rates = dict(rates or {})
        for kind, rate in rates.items():
            if kind not in FAULT_RATE_KINDS:
                raise ConfigError(f"unknown fault kind {kind!r}: use one of {', '.join(FAULT_RATE_KINDS)}")
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"fault rate {kind}={rate} must lie in [0, 1]")
        self.rates = rates
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.retry_after_s = retry_after_s
        self.fired: Counter[str] = Counter()
        self._forced: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0, **options: float) -> FaultPlan:
        """``"kind=rate,kind=rate"`` (empty or None: no faults)."""
        rates: dict[str, float] = {}
        for item in (spec or "").split(","):
            if not item.strip():
                continue
            kind, sep, value = item.partition("=")
            try:
                rates[kind.strip()] = float(value) if sep else 1.0
            except ValueError:
                raise ConfigError(f"bad fault {item.strip()!r}: write kind=rate, e.g. 429=0.1") from None
        return cls(rates, seed=seed, **options)  # type: ignore[arg-type]

    def force(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` rolls of ``kind`` fire regardless of its rate (for exact tests)."""
        if kind not in FAULT_RATE_KINDS:
            raise ConfigError(f"unknown fault kind {kind!r}: use one of {', '.join(FAULT_RATE_KINDS)}")
        with self._lock:
            self._forced[kind] += times

    def set_rate(self, kind: str, rate: float) -> None:
        if kind not in FAULT_RATE_KINDS:
            raise ConfigError(f"unknown fault kind {kind!r}: use one of {', '.join(FAULT_RATE_KINDS)}")
        with self._lock:
            self.rates[kind] = rate

    def roll(self, kind: str) -> bool:
        """Whether ``kind`` fires for this request (always draws, so sequences stay aligned)."""
        with self._lock:
            draw = self._random.random()
            if self._forced[kind] > 0:
                self._forced[kind] -= 1
                fired = True
            else:
                fired = draw < self.rates.get(kind, 0.0)
            if fired:
                self.fired[kind] += 1
            return fired
