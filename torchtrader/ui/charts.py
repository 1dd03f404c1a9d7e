"""The bot page's candle chart: the lake bars of its symbols, its strategy's price-scale indicators
(``Strategy.overlays``, computed on the same bars with the bot's parameters) and its fills marked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from torchtrader.bots.store import FillRecord
from torchtrader.errors import TorchTraderError
from torchtrader.ui.views import Figure, layout

if TYPE_CHECKING:
    from torchtrader.ui.deps import UiContext

CANDLES = 300
_OVERLAY_COLOURS = ("#e07b39", "#3a7bd5", "#8e44ad", "#16a085")


def overlay_traces(
    ctx: UiContext, config: dict[str, Any], symbol: str, timeframe: str, source: str | None
) -> list[dict[str, Any]]:
    """Line traces of the strategy's overlays over the last ``CANDLES`` bars (warm-up read before them,
    so the lines start complete). A strategy that cannot be loaded draws nothing: the page must show."""
    import math

    from torchtrader.strategies import Bars, load_strategy, parse_params

    try:
        cls = load_strategy(str(config.get("strategy")), ctx.ui.core.strategies)
        params = parse_params(cls, dict(config.get("params") or {}))
        strategy = cls()
        frame = ctx.lake().read_bars(symbol, timeframe, source=source)
        frame = frame.tail(CANDLES + strategy.warmup(params))
        if frame.is_empty():
            return []
        lines = strategy.overlays(Bars.from_frame(frame), params)
    except TorchTraderError:
        return []
    shown = [t.isoformat() for t in frame["ts"].tail(CANDLES)]
    traces = []
    for i, (label, values) in enumerate(lines.items()):
        ys = [None if math.isnan(v) else v for v in values[-len(shown) :].tolist()]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{symbol} {label}",
                "x": shown,
                "y": ys,
                "line": {"width": 1.2, "color": _OVERLAY_COLOURS[i % len(_OVERLAY_COLOURS)]},
            }
        )
    return traces


def candle_figure(
    ctx: UiContext, config: dict[str, Any], fills_since: Callable[[datetime], Sequence[FillRecord]]
) -> tuple[Figure | None, str | None]:
    """Candles of the last ``CANDLES`` bars per symbol and the fills inside that window."""
    symbols = list(config.get("symbols") or [])
    timeframe, source = str(config.get("timeframe", "1d")), config.get("source")
    traces: list[dict[str, Any]] = []
    missing = []
    for symbol in symbols:
        try:
            bars = ctx.lake().read_bars(symbol, timeframe, source=source).tail(CANDLES)
        except TorchTraderError:
            missing.append(symbol)
            continue
        if bars.is_empty():
            missing.append(symbol)
            continue
        first = bars["ts"][0]
        fills = fills_since(first)
        traces.append(
            {
                "type": "candlestick",
                "name": symbol,
                "x": [t.isoformat() for t in bars["ts"]],
                "open": bars["open"].to_list(),
                "high": bars["high"].to_list(),
                "low": bars["low"].to_list(),
                "close": bars["close"].to_list(),
            }
        )
        traces.extend(overlay_traces(ctx, config, symbol, timeframe, source))
        for side, marker in (("buy", "triangle-up"), ("sell", "triangle-down")):
            mine = [f for f in fills if f.symbol == symbol and f.side == side and f.ts >= first]
            if mine:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": f"{symbol} {side}s",
                        "x": [f.ts.isoformat() for f in mine],
                        "y": [f.price for f in mine],
                        "marker": {
                            "symbol": marker,
                            "size": 11,
                            "color": "#2a9d4b" if side == "buy" else "#c0392b",
                        },
                    }
                )
    note = f"no {timeframe} bars in the lake for {', '.join(missing)}" if missing else None
    if not traces:
        return None, note
    return Figure(
        traces, layout(f"{', '.join(symbols)} {timeframe}", xaxis={"rangeslider": {"visible": False}})
    ), note
