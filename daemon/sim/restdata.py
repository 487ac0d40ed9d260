"""Response bodies of the simulator's market-data and account endpoints, in MEXC's shapes
(decimals as strings; times as integer ms, or as strings of digits where the real MEXC sends
them so and ``Realism.wire_types`` is on)."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

from daemon.domain.money import fmt
from daemon.sim.market import window_of
from daemon.sim.orders import MAX_QUOTE, MAX_QUOTE_MARKET

if TYPE_CHECKING:
    from daemon.sim.server import Simulator


def exchange_info(sim: Simulator, wanted: list[str] | None) -> dict[str, Any]:
    symbols = [_symbol_info(sim, s) for s in sim.specs if wanted is None or s in wanted]
    return {"timezone": "CST", "serverTime": sim.server_time_ms(), "rateLimits": [],
            "exchangeFilters": [], "symbols": symbols}


def _symbol_info(sim: Simulator, symbol: str) -> dict[str, Any]:
    spec = sim.specs[symbol]
    return {
        "symbol": symbol, "status": spec.status, "baseAsset": spec.base_asset,
        "baseAssetPrecision": spec.base_precision, "quoteAsset": spec.quote_asset,
        "quotePrecision": spec.quote_precision, "quoteAssetPrecision": spec.quote_precision,
        "baseCommissionPrecision": spec.base_precision,
        "quoteCommissionPrecision": spec.quote_precision,
        "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
        "isSpotTradingAllowed": spec.spot_trading_allowed, "isMarginTradingAllowed": False,
        "quoteAmountPrecision": fmt(spec.min_notional), "baseSizePrecision": fmt(spec.min_qty),
        "permissions": ["SPOT"],
        "filters": [{"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5",
                     "askMultiplierDown": "0.2"}],
        "maxQuoteAmount": fmt(MAX_QUOTE), "makerCommission": fmt(spec.maker_fee),
        "takerCommission": fmt(spec.taker_fee), "quoteAmountPrecisionMarket": fmt(
            spec.min_notional), "maxQuoteAmountMarket": fmt(MAX_QUOTE_MARKET),
        "fullName": spec.base_asset, "tradeSideType": "1", "contractAddress": "",
        "st": False,
    }


def kline_rows(sim: Simulator, symbol: str, interval: str, start: int | None, end: int | None,
               limit: int) -> list[list[Any]]:
    now = sim.now_ms()
    bars = sim.markets[symbol].klines(interval, now, start_ms=start, end_ms=end, limit=limit)
    return [[b.open_ms, fmt(b.open), fmt(b.high), fmt(b.low), fmt(b.close), fmt(b.volume),
             window_of(interval, b.open_ms)[1], fmt(b.quote_volume)] for b in bars]


def _ms(sim: Simulator, value: int) -> int | str:
    return str(value) if sim.realism.wire_types else value


def depth(sim: Simulator, symbol: str, limit: int) -> dict[str, Any]:
    bids, asks = sim.book(symbol)
    consumed = sim.engine.consumed(symbol)
    now = sim.now_ms()

    def rows(levels: list[tuple[Any, Any]], side: str) -> list[list[str]]:
        out = []
        for price, qty in levels[:limit]:
            left = qty - consumed.get((side, price), 0)
            if left > 0:
                out.append([fmt(price), fmt(left)])
        return out

    return {"lastUpdateId": _ms(sim, now), "bids": rows(bids, "SELL"), "asks": rows(asks, "BUY"),
            "timestamp": _ms(sim, now)}


def ticker_price(sim: Simulator, symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "price": fmt(sim.markets[symbol].price_at(sim.now_ms()))}


def book_ticker(sim: Simulator, symbol: str) -> dict[str, Any]:
    """The best bid and ask, or the lie ``faults.book_ticker_factor``/``_crossed`` asks for."""
    bids, asks = sim.book(symbol)
    (bid, bid_qty), (ask, ask_qty) = bids[0], asks[0]
    faults = sim.faults
    if faults.book_ticker_factor != 1.0:
        factor = Decimal(repr(faults.book_ticker_factor))
        step = Decimal(1).scaleb(-sim.specs[symbol].quote_precision)
        bid = (bid * factor).quantize(step, rounding=ROUND_DOWN)  # the spread stays open
        ask = (ask * factor).quantize(step, rounding=ROUND_UP)
    if faults.book_ticker_crossed:
        bid, ask = ask, bid
    return {"symbol": symbol, "bidPrice": fmt(bid), "bidQty": fmt(bid_qty),
            "askPrice": fmt(ask), "askQty": fmt(ask_qty)}


def account(sim: Simulator) -> dict[str, Any]:
    balances = [{"asset": a, "free": fmt(f), "locked": fmt(lk), "available": fmt(f)}
                for a, (f, lk) in sim.balances().items()]
    return {"makerCommission": None, "takerCommission": None, "buyerCommission": None,
            "sellerCommission": None, "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "updateTime": None, "accountType": "SPOT", "balances": balances,
            "permissions": ["SPOT"]}


def ticker_24hr(sim: Simulator, symbol: str) -> dict[str, Any]:
    now = sim.now_ms()
    market = sim.markets[symbol]
    day = market.aggregate(now - 86_400_000, now + 1, now + 1)
    bids, asks = sim.book(symbol)
    last = market.price_at(now)
    open_ = day.open if day else last
    change = last - open_
    return {
        "symbol": symbol, "priceChange": fmt(change),
        "priceChangePercent": fmt((change / open_).quantize(Decimal("0.0001"))) if open_ else "0",
        "prevClosePrice": fmt(open_), "lastPrice": fmt(last),
        "bidPrice": fmt(bids[0][0]), "bidQty": fmt(bids[0][1]),
        "askPrice": fmt(asks[0][0]), "askQty": fmt(asks[0][1]),
        "openPrice": fmt(open_), "highPrice": fmt(day.high if day else last),
        "lowPrice": fmt(day.low if day else last),
        "volume": fmt(day.volume if day else Decimal(0)),
        "quoteVolume": fmt(day.quote_volume if day else Decimal(0)),
        "openTime": _ms(sim, now - 86_400_000), "closeTime": _ms(sim, now), "count": None,
    }


def avg_price(sim: Simulator, symbol: str) -> dict[str, Any]:
    now = sim.now_ms()
    bar = sim.markets[symbol].aggregate(now - 300_000, now + 1, now + 1)
    if bar is None or bar.volume == 0:
        return {"mins": 5, "price": fmt(sim.markets[symbol].price_at(now))}
    return {"mins": 5, "price": fmt((bar.quote_volume / bar.volume).quantize(Decimal(
        1).scaleb(-sim.specs[symbol].quote_precision)))}
