"""The batched fill kernel: target positions [combos, bars] → trades, equity and metrics.

No Python loop over time. Positions change rarely, so fills are computed only at change points:
``nonzero`` on the change mask gives every round trip of every combo at once, stops are found by a
first-touch search over sparse tables of range minima (``StopIndex``, O(log T) per trade), and the
per-combo compounding (each trade is sized on the equity left by the previous one) is a ``cumprod``
over a [combos, trades] matrix. The equity curve is then piecewise "cash + units × close": each bar
gathers its cash and units from the state after the last fill at or before it (``engine_dense``,
cache-blocked along time). The fill rules are those of ``torchtrader.backtest.config``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine_dense import Fills, curve_and_metrics
from torchtrader.backtest.metrics import trade_metrics
from torchtrader.backtest.results import EXIT_REASONS
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars
from torchtrader.timeframes import bars_per_year

SIGNAL, STOP_LOSS, TAKE_PROFIT, END = (EXIT_REASONS.index(r) for r in EXIT_REASONS)


@dataclass(frozen=True)
class TradeTable:
    """Every round trip of a batch as flat tensors [K], ordered by (combo, entry bar)."""

    combo: Tensor  # int64 combo index
    entry_bar: Tensor  # int64 bar index of the entry fill (at that bar's open)
    exit_bar: Tensor  # int64 bar index of the exit fill
    direction: Tensor  # +1 long, −1 short
    units: Tensor  # absolute units (> 0)
    entry_price: Tensor  # fill prices, slippage included
    exit_price: Tensor
    pnl: Tensor  # net of both fills' fees
    fees: Tensor
    exit_reason: Tensor  # int64 index into results.EXIT_REASONS

    def __len__(self) -> int:
        return int(self.combo.shape[0])


@dataclass(frozen=True)
class SimulationOutput:
    """What ``simulate`` computed for a batch of B combos over T bars."""

    metrics: dict[str, Tensor]  # one [B] tensor per Metrics field
    final_equity: Tensor  # [B]
    trades: TradeTable
    equity: Tensor | None  # [B, T] when asked for (keep_equity), else None to bound memory


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without one is a BacktestError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BacktestError("device 'cuda' requested but no CUDA device is available: use 'cpu' or 'auto'")
    return torch.device(device)


def resolve_dtype(dtype: str) -> torch.dtype:
    return torch.float32 if dtype == "float32" else torch.float64


class StopIndex:
    """Sparse tables of range minima of ``low`` and of ``−high`` for first-touch searches.

    Level j holds min(x[i : i + 2**j]) (ranges cut at T). Memory: 2 × log2(T) × T values, built once
    per bar series and shared by every chunk of a sweep.
    """

    def __init__(self, low: Tensor, high: Tensor) -> None:
        self.n = int(low.shape[0])
        self.low = self._levels(low)
        self.neg_high = self._levels(-high)

    @staticmethod
    def _levels(x: Tensor) -> list[Tensor]:
        levels = [x.contiguous()]
        width = 1
        while 2 * width <= x.shape[0]:
            prev = levels[-1]
            nxt = prev.clone()
            torch.minimum(prev[:-width], prev[width:], out=nxt[:-width])
            levels.append(nxt)
            width *= 2
        return levels

    @staticmethod
    def first_at_or_below(levels: list[Tensor], start: Tensor, end: Tensor, bound: Tensor) -> Tensor:
        """Per query, the first i in [start, end) with x[i] ≤ bound, or ``end`` when there is none."""
        pos = start.clone()
        last = levels[0].shape[0] - 1
        for j in range(len(levels) - 1, -1, -1):
            cand = pos + (1 << j)
            # Jump over [pos, pos + 2**j) when it lies inside the range and nothing in it touches.
            jump = (cand <= end) & (levels[j][pos.clamp(max=last)] > bound)
            pos = torch.where(jump, cand, pos)
        return pos


class Workspace:
    """A reusable [combos, bars] change mask for ``simulate``.

    A sweep runs many chunks of the same shape; allocating this once avoids paying the page faults
    of a fresh large tensor on every chunk.
    """

    def __init__(self, n_combos: int, n_bars: int, device: torch.device) -> None:
        self.change = torch.empty((n_combos, n_bars), dtype=torch.bool, device=device)

    def fits(self, n_combos: int, n_bars: int, device: torch.device) -> bool:
        return (
            n_combos <= self.change.shape[0]
            and n_bars == self.change.shape[1]
            and device == self.change.device
        )


def check_positions(positions: Tensor, n_bars: int) -> Tensor:
    if positions.ndim == 1:
        positions = positions.unsqueeze(0)
    if positions.ndim != 2 or positions.shape[1] != n_bars:
        raise BacktestError(
            f"positions must have shape [combos, {n_bars}] to match the bars, got {tuple(positions.shape)}"
        )
    if n_bars < 2:
        raise BacktestError(f"a backtest needs at least 2 bars, got {n_bars}")
    low, high = torch.aminmax(positions)
    if not (bool(low >= -1) and bool(high <= 1)):  # NaN fails both comparisons
        bad = ~(positions.abs() <= 1)
        combo, bar = (int(v) for v in bad.nonzero()[0])
        value = float(positions[combo, bar])
        raise BacktestError(
            f"positions must be finite and within [-1, 1]: combo {combo} bar {bar} holds {value}"
        )
    return positions


@dataclass(frozen=True)
class RoundTrips:
    """Timing and prices of every round trip (not yet sized), ordered by (combo, entry bar)."""

    combo: Tensor
    entry_bar: Tensor
    exit_bar: Tensor
    fraction: Tensor  # signed fraction of equity: target × size
    direction: Tensor
    entry_price: Tensor
    exit_price: Tensor
    reason: Tensor


def round_trips(
    positions: Tensor,
    bars: Bars,
    config: BacktestConfig,
    change: Tensor | None = None,
    stop_index: StopIndex | None = None,
) -> RoundTrips:
    """Rules 1, 2, 4, 6 and 7: when each trade opens and closes and at which fill prices.

    Sizing (rule 3) is left to the caller: prices and timing never depend on it. ``positions`` must
    already be checked and on the bars' device and dtype; ``change`` is an optional [B, T−1] bool buffer.
    """
    n_combos, n_bars = positions.shape
    opens, closes = bars.open, bars.close
    # Change points: the target decided at bar t−1's close differs from the one before it.
    decided = positions[:, :-1]
    if change is None:
        change = torch.empty((n_combos, n_bars - 1), dtype=torch.bool, device=positions.device)
    torch.ne(decided[:, :1], 0, out=change[:, :1])
    torch.ne(decided[:, 1:], decided[:, :-1], out=change[:, 1:])
    ev_combo, ev_bar = change.nonzero(as_tuple=True)
    ev_bar = ev_bar + 1
    ev_target = positions[ev_combo, ev_bar - 1]
    ev_next = torch.full_like(ev_bar, n_bars)
    if ev_bar.shape[0] > 1:
        same = ev_combo[1:] == ev_combo[:-1]
        ev_next[:-1] = torch.where(same, ev_bar[1:], ev_next[:-1])

    opens_trade = ev_target != 0
    combo, entry_bar, until = ev_combo[opens_trade], ev_bar[opens_trade], ev_next[opens_trade]
    fraction = ev_target[opens_trade] * config.size
    direction = torch.sign(fraction)
    slip = config.slippage_bps / 1e4
    entry_price = opens[entry_bar] * (1 + direction * slip)

    at_end = until == n_bars
    exit_bar = torch.where(at_end, n_bars - 1, until)
    raw_exit = torch.where(at_end, closes[-1], opens[exit_bar])
    reason = torch.where(at_end, END, SIGNAL)
    if config.stop_loss is not None or config.take_profit is not None:
        index = stop_index if stop_index is not None else StopIndex(bars.low, bars.high)
        exit_bar, raw_exit, reason = _apply_stops(
            index, opens, config, entry_bar, until, direction, entry_price, exit_bar, raw_exit, reason
        )
    exit_price = raw_exit * (1 - direction * slip)
    return RoundTrips(combo, entry_bar, exit_bar, fraction, direction, entry_price, exit_price, reason)


def simulate(
    positions: Tensor,
    bars: Bars,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, immutable default
    *,
    keep_equity: bool = True,
    stop_index: StopIndex | None = None,
    workspace: Workspace | None = None,
) -> SimulationOutput:
    """Run the fill rules on target positions [B, T] (decided at each bar's close) for B combos at once.

    ``bars`` and ``positions`` are moved to the config's device and dtype. ``stop_index`` lets a caller
    that simulates many chunks over the same bars build the stop search tables once, and ``workspace``
    its change mask (one that is too small or on another device is replaced).
    """
    device, dtype = resolve_device(config.device), resolve_dtype(config.dtype)
    if bars.device != device or bars.dtype != dtype:
        bars = bars.to(device=device, dtype=dtype)
    n_bars = len(bars)
    positions = check_positions(positions.to(device=device, dtype=dtype), n_bars)
    n_combos = positions.shape[0]
    closes = bars.close
    if workspace is None or not workspace.fits(n_combos, n_bars, device):
        workspace = Workspace(n_combos, n_bars, device)

    trips = round_trips(positions, bars, config, workspace.change[:n_combos, : n_bars - 1], stop_index)
    combo, entry_bar, exit_bar, reason = trips.combo, trips.entry_bar, trips.exit_bar, trips.reason
    fraction, direction = trips.fraction, trips.direction
    entry_price, exit_price = trips.entry_price, trips.exit_price
    if config.fees_in_sizing:
        fraction = fraction / (1 + config.fee)  # rule 3: entry cost plus fee = target × size × equity

    # Return of each trade per unit of the equity it was sized on (sizing is linear in equity).
    absfrac = fraction.abs()
    per_equity = fraction * (exit_price - entry_price) / entry_price
    per_equity -= config.fee * absfrac * (entry_price + exit_price) / entry_price

    n_trades = torch.bincount(combo, minlength=n_combos)
    first = torch.cumsum(n_trades, 0) - n_trades
    rank = torch.arange(combo.shape[0], device=device) - first[combo]
    width = int(n_trades.max()) if combo.shape[0] else 0
    growth = torch.ones((n_combos, width + 1), dtype=dtype, device=device)
    growth[combo, rank + 1] = 1 + per_equity
    sized_on = torch.cumprod(growth, dim=1).mul_(config.initial_cash)  # equity before trade k, and after
    equity_in = sized_on[combo, rank]
    equity_out = sized_on[combo, rank + 1]
    final_equity = sized_on[torch.arange(n_combos, device=device), n_trades]

    signed_units = fraction * equity_in / entry_price
    units = signed_units.abs()
    entry_fee = config.fee * units * entry_price
    fees = entry_fee + config.fee * units * exit_price
    pnl = signed_units * (exit_price - entry_price) - fees
    trades = TradeTable(
        combo, entry_bar, exit_bar, direction, units, entry_price, exit_price, pnl, fees, reason
    )

    cash_in_trade = equity_in - signed_units * entry_price - entry_fee
    fills = _fills(
        config.initial_cash, n_combos, (combo, rank, width), (entry_bar, exit_bar),
        signed_units, cash_in_trade, equity_out,
    )  # fmt: skip
    equity = torch.empty((n_combos, n_bars), dtype=dtype, device=device) if keep_equity else None
    metrics = curve_and_metrics(fills, closes, bars_per_year(bars.timeframe), out=equity)
    metrics.update(trade_metrics(combo, pnl, n_combos))
    held = exit_bar - entry_bar + (reason == END).to(torch.int64)
    metrics["exposure"] = torch.zeros(n_combos, dtype=dtype, device=device).index_add_(
        0, combo, held.to(dtype)
    ) / float(n_bars)
    return SimulationOutput(metrics, final_equity, trades, equity)


def _fills(
    initial_cash: float,
    n_combos: int,
    trade: tuple[Tensor, Tensor, int],
    bars: tuple[Tensor, Tensor],
    signed_units: Tensor,
    cash_in_trade: Tensor,
    cash_after: Tensor,
) -> Fills:
    """Every fill sorted by bar, with per-combo (cash, units) tables indexed by fills-so-far.

    States per combo: 0 = initial, 2k+1 = after trade k's entry, 2k+2 = after its exit. Trades of a
    combo never overlap, so the number of its fills at or before a bar is the index of its state.
    """
    combo, rank, width = trade
    entry_bar, exit_bar = bars
    cash = torch.full(
        (n_combos, 2 * width + 1), initial_cash, dtype=signed_units.dtype, device=signed_units.device
    )
    units = torch.zeros_like(cash)
    cash[combo, 2 * rank + 1] = cash_in_trade
    cash[combo, 2 * rank + 2] = cash_after
    units[combo, 2 * rank + 1] = signed_units
    fill_bar = torch.cat([entry_bar, exit_bar])
    order = torch.argsort(fill_bar, stable=True)
    return Fills(torch.cat([combo, combo])[order], fill_bar[order], cash, units)


def _apply_stops(
    index: StopIndex,
    opens: Tensor,
    config: BacktestConfig,
    entry_bar: Tensor,
    until: Tensor,
    direction: Tensor,
    entry_price: Tensor,
    exit_bar: Tensor,
    raw_exit: Tensor,
    reason: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Cut trades at their first stop-loss / take-profit touch in bars [entry, next signal)."""
    n_bars = opens.shape[0]
    long = direction > 0
    never = torch.full_like(entry_bar, n_bars)
    sl_bar, tp_bar = never, never
    sl_level = tp_level = torch.zeros_like(entry_price)

    def first_touch(level: Tensor, adverse_below: Tensor) -> Tensor:
        # A level is touched from below by a bar's high, from above by its low.
        below = StopIndex.first_at_or_below(index.low, entry_bar, until, level)
        above = StopIndex.first_at_or_below(index.neg_high, entry_bar, until, -level)
        return torch.where(adverse_below, below, above)

    if config.stop_loss is not None:
        sl_level = entry_price * (1 - direction * config.stop_loss)
        sl_bar = first_touch(sl_level, long)
    if config.take_profit is not None:
        tp_level = entry_price * (1 + direction * config.take_profit)
        tp_bar = first_touch(tp_level, ~long)
    hit_bar = torch.minimum(sl_bar, tp_bar)
    hit = hit_bar < until
    bar_open = opens[hit_bar.clamp(max=n_bars - 1)]
    gap_tp = direction * (bar_open - tp_level) >= 0
    gap_sl = direction * (bar_open - sl_level) <= 0
    # Both levels touched in one bar: the stop-loss wins, even when the bar opened beyond the take-profit.
    take_sl = hit & (sl_bar == hit_bar)
    take_tp = hit & ~take_sl
    stop_price = torch.where(
        take_tp, torch.where(gap_tp, bar_open, tp_level), torch.where(gap_sl, bar_open, sl_level)
    )
    exit_bar = torch.where(hit, hit_bar, exit_bar)
    raw_exit = torch.where(hit, stop_price, raw_exit)
    reason = torch.where(take_tp, TAKE_PROFIT, torch.where(take_sl, STOP_LOSS, reason))
    return exit_bar, raw_exit, reason
