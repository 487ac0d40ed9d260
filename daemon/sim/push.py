"""Encoding of the simulator's websocket pushes as binary PushDataV3ApiWrapper protobuf frames
(the project's own .proto, wire-compatible with MEXC's)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from daemon.adapters.mexc.proto import mexc_push_pb2 as pb
from daemon.domain.money import ZERO, fmt
from daemon.sim.engine import (
    WS_ORDER_TYPE,
    WS_STATUS,
    AccountEvent,
    DealEvent,
    OrderEvent,
    Trade,
)
from daemon.sim.market import Bar

CH_ACCOUNT = "spot@private.account.v3.api.pb"
CH_ORDERS = "spot@private.orders.v3.api.pb"
CH_DEALS = "spot@private.deals.v3.api.pb"
PRIVATE_CHANNELS = (CH_ACCOUNT, CH_ORDERS, CH_DEALS)
KLINE_PREFIX = "spot@public.kline.v3.api.pb@"
BOOK_PREFIX = "spot@public.aggre.bookTicker.v3.api.pb@"  # + (100ms|10ms)@SYMBOL
DEALS_PREFIX = "spot@public.aggre.deals.v3.api.pb@"  # + (100ms|10ms)@SYMBOL


def symbol_id(symbol: str) -> str:
    """A stable 32-hex id per symbol, like MEXC's symbolId."""
    return hashlib.md5(symbol.encode()).hexdigest()


def kline_frame(channel: str, symbol: str, ws_interval: str, bar: Bar, end_ms: int,
                create_ms: int) -> bytes:
    msg = pb.PushDataV3ApiWrapper(channel=channel, symbol=symbol, symbolId=symbol_id(symbol),
                                  createTime=create_ms)
    k = msg.publicSpotKline
    k.interval = ws_interval
    k.windowStart = bar.open_ms // 1000
    k.openingPrice, k.closingPrice = fmt(bar.open), fmt(bar.close)
    k.highestPrice, k.lowestPrice = fmt(bar.high), fmt(bar.low)
    k.volume, k.amount = fmt(bar.volume), fmt(bar.quote_volume)
    k.windowEnd = end_ms // 1000
    return msg.SerializeToString()


def account_frame(ev: AccountEvent, send_ms: int) -> bytes:
    msg = pb.PushDataV3ApiWrapper(channel=CH_ACCOUNT, createTime=ev.time_ms, sendTime=send_ms)
    a = msg.privateAccount
    a.vcoinName = ev.asset
    a.coinId = symbol_id(ev.asset)
    a.balanceAmount, a.balanceAmountChange = fmt(ev.free), fmt(ev.free_delta)
    a.frozenAmount, a.frozenAmountChange = fmt(ev.locked), fmt(ev.locked_delta)
    a.type = ev.kind
    a.time = ev.time_ms
    return msg.SerializeToString()


def order_frame(ev: OrderEvent, send_ms: int, *, ref_price: bool = False) -> bytes:
    """``ref_price``: a MARKET order sized by quantity reports the market price it was placed
    at as its price (the real sample, PROTOCOL.md 6), its ``amount`` stays "0"."""
    o = ev.order
    msg = pb.PushDataV3ApiWrapper(channel=CH_ORDERS, symbol=o.symbol, sendTime=send_ms)
    p = msg.privateOrders
    p.id = o.order_id
    p.clientId = o.client_order_id or ""
    p.price = fmt(o.ref_price if ref_price and o.price == 0 and o.orig_qty > 0 else o.price)
    p.quantity = fmt(o.orig_qty)
    p.amount = fmt(o.orig_quote_qty if o.orig_quote_qty else o.price * o.orig_qty)
    p.avgPrice = fmt(o.cum_quote / o.executed_qty) if o.executed_qty else "0"
    p.orderType = WS_ORDER_TYPE[o.type]
    p.tradeType = 1 if o.side == "BUY" else 2
    p.isMaker = ev.is_maker
    by_quote = o.type == "MARKET" and o.orig_quote_qty > 0 and o.orig_qty == 0
    p.remainAmount = fmt(max(ZERO, o.orig_quote_qty - o.cum_quote) if by_quote else (
        o.price * o.remaining if o.type != "MARKET" else ZERO))
    p.remainQuantity = fmt(ZERO if by_quote else max(ZERO, o.remaining))
    if ev.last_deal_qty is not None:
        p.lastDealQuantity = fmt(ev.last_deal_qty)
    p.cumulativeQuantity = fmt(o.executed_qty)
    p.cumulativeAmount = fmt(o.cum_quote)
    p.status = WS_STATUS[o.status]
    p.createTime = o.time_ms
    return msg.SerializeToString()


def deal_frame(ev: DealEvent, send_ms: int) -> bytes:
    t = ev.trade
    msg = pb.PushDataV3ApiWrapper(channel=CH_DEALS, symbol=t.symbol, sendTime=send_ms)
    d = msg.privateDeals
    d.price, d.quantity, d.amount = fmt(t.price), fmt(t.qty), fmt(t.quote_qty)
    d.tradeType = 1 if t.side == "BUY" else 2
    d.isMaker = t.is_maker
    d.isSelfTrade = False
    d.tradeId = t.trade_id
    d.clientOrderId = t.client_order_id or ""
    d.orderId = t.order_id
    d.feeAmount = fmt(t.commission)
    d.feeCurrency = t.commission_asset
    d.time = t.time_ms
    return msg.SerializeToString()


def book_ticker_frame(channel: str, symbol: str, bid: tuple[Decimal, Decimal],
                      ask: tuple[Decimal, Decimal], send_ms: int) -> bytes:
    msg = pb.PushDataV3ApiWrapper(channel=channel, symbol=symbol, sendTime=send_ms)
    b = msg.publicAggreBookTicker
    b.bidPrice, b.bidQuantity = fmt(bid[0]), fmt(bid[1])
    b.askPrice, b.askQuantity = fmt(ask[0]), fmt(ask[1])
    b.version = str(send_ms)
    return msg.SerializeToString()


def public_deals_frame(channel: str, symbol: str, trades: list[Trade], send_ms: int) -> bytes:
    """The account's own fills as seen by the public tape (the taker's side)."""
    msg = pb.PushDataV3ApiWrapper(channel=channel, symbol=symbol, sendTime=send_ms)
    d = msg.publicAggreDeals
    d.eventType = "spot@public.aggre.deals.v3.api.pb@100ms"
    for t in trades:
        taker_buys = (t.side == "BUY") != t.is_maker
        d.deals.add(price=fmt(t.price), quantity=fmt(t.qty), tradeType=1 if taker_buys else 2,
                    time=t.time_ms, tradeId=t.trade_id)
    return msg.SerializeToString()
