"""What the loopback Binance says about its spot markets: exchangeInfo entries and their filters.

The trading endpoints (``testing.binance_trading``) enforce exactly the filters served here, so ccxt's
market limits, ``bots.rules`` and the venue agree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

TICK_SIZE = "0.01000000"
STEP_SIZE = "0.00001000"
MIN_QTY = "0.00001000"
MAX_QTY = "9000.00000000"
MIN_NOTIONAL = "5.00000000"
FEE_RATE = Decimal("0.001")  # maker and taker: 10 bps, charged in the quote asset


def market_id(symbol: str) -> str:
    """ccxt ``BTC/USDT`` -> Binance ``BTCUSDT``."""
    return symbol.replace("/", "")


def spot_symbol(symbol: str) -> dict[str, Any]:
    base, quote = symbol.split("/")
    return {
        "symbol": market_id(symbol),
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": TICK_SIZE,
                "maxPrice": "1000000.00000000",
                "tickSize": TICK_SIZE,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": MIN_QTY,
                "maxQty": MAX_QTY,
                "stepSize": STEP_SIZE,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": MIN_NOTIONAL,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
