"""Value objects shared by the domain, the adapters and the runtime. Pure and immutable."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Trend(StrEnum):
    BULLISH = "BULLISH"
    BEARISH = "BEARISH"
    NEUTRAL = "NEUTRAL"


@dataclass(frozen=True, slots=True)
class ExchangeRules:
    """What the exchange allows for one symbol (from exchangeInfo)."""

    symbol: str
    base_asset: str
    quote_asset: str
    base_precision: int  # decimals of quantity (baseAssetPrecision)
    quote_precision: int  # decimals of price (quoteAssetPrecision)
    min_qty: Decimal  # baseSizePrecision: minimum base quantity
    min_notional: Decimal  # quoteAmountPrecision: minimum quote amount (limit orders)
    taker_fee: Decimal
    maker_fee: Decimal = Decimal(0)
    min_notional_market: Decimal | None = None  # quoteAmountPrecisionMarket
    order_types: tuple[str, ...] = ("LIMIT", "MARKET", "LIMIT_MAKER")
    tradable: bool = True  # status "1"/"ENABLED" and isSpotTradingAllowed


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle as REST /api/v3/klines reports it. Times are epoch milliseconds;
    close_time_ms = open_time_ms + interval (MEXC's convention, not Binance's -1)."""

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time_ms: int
    quote_volume: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    """One own trade (myTrades row or private deals push), identified by trade_id."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int
    is_maker: bool = False


class OrderStatus(StrEnum):
    """MEXC's order statuses (REST strings; websocket ints map 1..5 in that order)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PARTIALLY_CANCELED = "PARTIALLY_CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.PARTIALLY_CANCELED)


WS_ORDER_STATUS: dict[int, OrderStatus] = {
    1: OrderStatus.NEW,
    2: OrderStatus.FILLED,
    3: OrderStatus.PARTIALLY_FILLED,
    4: OrderStatus.CANCELED,
    5: OrderStatus.PARTIALLY_CANCELED,
}


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the venue says about one order, normalised from REST (order object, cancel reply)
    or the private orders push. ``executed_qty``/``cum_quote_qty`` are cumulative."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    order_type: str  # LIMIT, MARKET, LIMIT_MAKER, IMMEDIATE_OR_CANCEL, FILL_OR_KILL
    status: OrderStatus
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote_qty: Decimal
    time_ms: int
    update_time_ms: int
    source: str = "rest"  # "rest" | "ws"


@dataclass(frozen=True, slots=True)
class BookTop:
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
