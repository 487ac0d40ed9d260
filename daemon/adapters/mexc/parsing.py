"""MEXC payloads -> the project's models. Lenient where real MEXC is inconsistent (numbers as
strings or numbers, nulls, scientific notation), strict where a payload is garbage: every
failure is a ProtocolError naming the field (PROTOCOL.md sections 2 and 6)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.domain.fields import FieldReader, Leniency
from daemon.domain.models import (
    WS_ORDER_STATUS,
    Balance,
    BookTop,
    Candle,
    ExchangeRules,
    Fill,
    OrderReport,
    OrderStatus,
    Side,
)
from daemon.domain.money import ZERO
from daemon.domain.orders import QUOTE_TOLERANCE
from daemon.errors import ProtocolError, SymbolNotTradable

WS_ORDER_TYPES: dict[int, str] = {
    1: "LIMIT",
    2: "LIMIT_MAKER",
    3: "IMMEDIATE_OR_CANCEL",
    4: "FILL_OR_KILL",
    5: "MARKET",
    100: "STOP_LIMIT",
}
_ONLINE_STATUSES = ("1", "ENABLED")

# --- scalar reads ---------------------------------------------------------------------------

# Typed reads of MEXC's payloads: lenient where real MEXC is inconsistent (numbers as strings,
# "" for null, ids as numbers), a ProtocolError naming the field otherwise.
WIRE = FieldReader(ProtocolError, Leniency.WIRE)
dec, integer, text, opt_text, obj = (WIRE.decimal, WIRE.integer, WIRE.text, WIRE.opt_text,
                                     WIRE.mapping)


def side(raw: object, field: str) -> Side:
    if raw in ("BUY", 1, "1"):
        return Side.BUY
    if raw in ("SELL", 2, "2"):
        return Side.SELL
    raise ProtocolError(f"{field}: expected BUY or SELL, got {raw!r}")


# --- REST payloads --------------------------------------------------------------------------


def parse_server_time(payload: object) -> int:
    return integer(obj(payload, "time").get("serverTime"), "time.serverTime")


def parse_kline_row(row: object, index: int = 0) -> Candle:
    where = f"klines[{index}]"
    if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 7:
        raise ProtocolError(f"{where}: expected an array of at least 7 entries, got {row!r}")
    open_ms = integer(row[0], f"{where}.openTime")
    close_ms = integer(row[6], f"{where}.closeTime")
    if close_ms <= open_ms:
        raise ProtocolError(f"{where}.closeTime: {close_ms} is not after openTime {open_ms}")
    return Candle(
        open_time_ms=open_ms,
        open=dec(row[1], f"{where}.open"),
        high=dec(row[2], f"{where}.high"),
        low=dec(row[3], f"{where}.low"),
        close=dec(row[4], f"{where}.close"),
        volume=dec(row[5], f"{where}.volume", default=ZERO),
        close_time_ms=close_ms,
        quote_volume=dec(row[7] if len(row) > 7 else None, f"{where}.quoteVolume", default=ZERO),
    )


def parse_klines(payload: object) -> list[Candle]:
    if not isinstance(payload, list):
        raise ProtocolError(f"klines: expected a JSON array, got {type(payload).__name__}")
    candles = [parse_kline_row(row, i) for i, row in enumerate(payload)]
    for i in range(1, len(candles)):
        if candles[i].open_time_ms <= candles[i - 1].open_time_ms:
            raise ProtocolError(f"klines[{i}].openTime: not after the previous row's")
    return candles


def parse_exchange_rules(payload: object, symbol: str) -> ExchangeRules:
    """The rules of ``symbol`` from exchangeInfo. SymbolNotTradable (with the reason) when the
    symbol is missing, not online or spot trading is not allowed."""
    info = obj(payload, "exchangeInfo")
    symbols = info.get("symbols")
    if not isinstance(symbols, list):
        raise ProtocolError("exchangeInfo.symbols: expected an array")
    entry = next((s for s in symbols if isinstance(s, Mapping) and s.get("symbol") == symbol),
                 None)
    if entry is None:
        raise SymbolNotTradable(f"{symbol}: not listed in exchangeInfo")
    w = f"exchangeInfo[{symbol}]"
    status = entry.get("status")
    if str(status) not in _ONLINE_STATUSES:
        meaning = {"2": "paused", "3": "offline"}.get(str(status), "unknown status")
        raise SymbolNotTradable(f"{symbol}: status is {status!r} ({meaning}), not online")
    if entry.get("isSpotTradingAllowed") is not True:
        raise SymbolNotTradable(f"{symbol}: isSpotTradingAllowed is "
                                f"{entry.get('isSpotTradingAllowed')!r}")
    quote_prec = entry.get("quoteAssetPrecision", entry.get("quotePrecision"))
    market_min = entry.get("quoteAmountPrecisionMarket")
    order_types = entry.get("orderTypes")
    return ExchangeRules(
        symbol=symbol,
        base_asset=text(entry.get("baseAsset"), f"{w}.baseAsset"),
        quote_asset=text(entry.get("quoteAsset"), f"{w}.quoteAsset"),
        base_precision=integer(entry.get("baseAssetPrecision"), f"{w}.baseAssetPrecision"),
        quote_precision=integer(quote_prec, f"{w}.quoteAssetPrecision"),
        min_qty=dec(entry.get("baseSizePrecision"), f"{w}.baseSizePrecision", default=ZERO),
        min_notional=dec(entry.get("quoteAmountPrecision"), f"{w}.quoteAmountPrecision",
                         default=ZERO),
        taker_fee=dec(entry.get("takerCommission"), f"{w}.takerCommission", default=ZERO),
        maker_fee=dec(entry.get("makerCommission"), f"{w}.makerCommission", default=ZERO),
        min_notional_market=(None if market_min in (None, "")
                             else dec(market_min, f"{w}.quoteAmountPrecisionMarket")),
        order_types=(tuple(str(t) for t in order_types) if isinstance(order_types, list)
                     else ("LIMIT", "MARKET", "LIMIT_MAKER")),
        tradable=True,
    )


def parse_ticker_price(payload: object) -> Decimal:
    return dec(obj(payload, "ticker").get("price"), "ticker.price")


def parse_book_top(payload: object) -> BookTop:
    p = obj(payload, "bookTicker")
    return BookTop(
        bid_price=dec(p.get("bidPrice"), "bookTicker.bidPrice"),
        bid_qty=dec(p.get("bidQty"), "bookTicker.bidQty", default=ZERO),
        ask_price=dec(p.get("askPrice"), "bookTicker.askPrice"),
        ask_qty=dec(p.get("askQty"), "bookTicker.askQty", default=ZERO),
    )


# No real holding of one asset reaches 1e15 units (the whole supply of most coins is below it):
# a balance above it is a lie (1e300, a number near float's limit), never a quantity to book.
# Balances inflated within that bound (x1000) cannot be told from real ones here.
MAX_BALANCE = Decimal("1e15")


def parse_account(payload: object) -> dict[str, Balance]:
    """GET /api/v3/account: every free amount given; each amount finite, >= 0 and at most
    MAX_BALANCE (a ProtocolError naming the field and the value otherwise)."""
    balances = obj(payload, "account").get("balances")
    if not isinstance(balances, list):
        raise ProtocolError("account.balances: expected an array")
    out: dict[str, Balance] = {}
    for i, row in enumerate(balances):
        r = obj(row, f"account.balances[{i}]")
        asset = text(r.get("asset"), f"account.balances[{i}].asset")
        out[asset] = Balance(
            asset=asset,
            free=_balance(r.get("free"), f"account.balances[{i}].free"),
            # locked null is read as 0 (as before); a null free amount is refused
            locked=_balance(r.get("locked"), f"account.balances[{i}].locked", ZERO),
        )
    return out


def _balance(raw: object, name: str, default: Decimal | None = None,
             minimum: Decimal | None = ZERO) -> Decimal:
    """A balance: given (unless ``default``), finite, >= ``minimum``, at most MAX_BALANCE."""
    value = dec(raw, name, default=default, minimum=minimum)
    if value > MAX_BALANCE:  # said briefly: 1e300 written out is 300 digits
        raise ProtocolError(f"{name}: {value:.6g} is above {MAX_BALANCE:.0e}, beyond any real "
                            "holding")
    return value


def parse_order(payload: object, *, symbol: str | None = None) -> OrderReport:
    """An order object (GET /order, openOrders, allOrders)."""
    p = obj(payload, "order")
    return _order_report(p, "order", symbol,
                         opt_text(p.get("clientOrderId"), "order.clientOrderId"))


# Statuses that say the order has executed something: their executedQty must be given
_EXECUTED = (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_CANCELED)


def _order_report(p: Mapping[str, Any], w: str, symbol: str | None,
                  client_order_id: str | None) -> OrderReport:
    status = WIRE.enum(p.get("status"), f"{w}.status", OrderStatus)
    created = integer(p.get("time", p.get("transactTime")), f"{w}.time", default=0)
    executed_raw = p.get("executedQty")
    report = OrderReport(
        order_id=text(p.get("orderId"), f"{w}.orderId"),
        client_order_id=client_order_id,
        symbol=opt_text(p.get("symbol"), f"{w}.symbol") or symbol or "",
        side=side(p.get("side"), f"{w}.side"),
        order_type=opt_text(p.get("type"), f"{w}.type") or "",
        status=status,
        price=dec(p.get("price"), f"{w}.price", default=ZERO, minimum=ZERO),
        orig_qty=dec(p.get("origQty"), f"{w}.origQty", default=ZERO, minimum=ZERO),
        executed_qty=dec(executed_raw, f"{w}.executedQty",
                         default=None if status in _EXECUTED else ZERO, minimum=ZERO),
        cum_quote_qty=dec(p.get("cummulativeQuoteQty"), f"{w}.cummulativeQuoteQty",
                          default=ZERO, minimum=ZERO),
        time_ms=created,
        update_time_ms=integer(p.get("updateTime"), f"{w}.updateTime", default=created),
        source="rest",
    )
    _check_quantities(report, w)
    return report


def _check_quantities(r: OrderReport, w: str) -> None:
    """A status that contradicts the quantities is not a fact to book on: ProtocolError (the
    order is asked about again), never an order closed as "FILLED, filled 0"."""
    if r.orig_qty > 0 and r.executed_qty > r.orig_qty:
        raise ProtocolError(f"{w}.executedQty: {r.executed_qty} is above origQty {r.orig_qty}")
    if r.status in _EXECUTED and r.executed_qty == 0:
        raise ProtocolError(f"{w}.executedQty: 0 with status {r.status.value}")


def parse_new_order(payload: object, *, client_order_id: str, symbol: str,
                    side_sent: Side) -> OrderReport:
    """The POST /order reply: no status and no fills, so the order is reported NEW. Old replies
    carry only ``symbol``, ``orderId`` and ``orderListId`` (PROTOCOL.md 9): what is missing is
    what was sent (side, client id) or unknown (price, quantity: zero, which the order model
    does not read from a NEW report)."""
    p = obj(payload, "newOrder")
    if "code" in p:
        raise ProtocolError(f"newOrder: reply carries an error code {p.get('code')!r}: "
                            f"{p.get('msg')!r}")
    created = integer(p.get("transactTime"), "newOrder.transactTime", default=0)
    raw_side = p.get("side")
    return OrderReport(
        order_id=text(p.get("orderId"), "newOrder.orderId"),
        client_order_id=opt_text(p.get("clientOrderId"), "newOrder.clientOrderId")
        or client_order_id,
        symbol=opt_text(p.get("symbol"), "newOrder.symbol") or symbol,
        side=side_sent if raw_side is None else side(raw_side, "newOrder.side"),
        order_type=opt_text(p.get("type"), "newOrder.type") or "",
        status=OrderStatus.NEW,
        price=dec(p.get("price"), "newOrder.price", default=ZERO),
        orig_qty=dec(p.get("origQty"), "newOrder.origQty", default=ZERO),
        executed_qty=Decimal(0),
        cum_quote_qty=Decimal(0),
        time_ms=created,
        update_time_ms=created,
        source="rest",
    )


def parse_cancel_reply(payload: object, *, symbol: str) -> OrderReport | None:
    """The DELETE /order reply. The ORDER's client id is ``origClientOrderId``;
    ``clientOrderId`` is the cancel request's own id (MEXC may invent one), never the order's.
    Real replies may carry only symbol, orderId, price, origQty, type and side: no status, no
    quantities. Such a reply says nothing about the order's state: None (the caller asks with
    GET /order), never a guess."""
    p = obj(payload, "cancelOrder")
    if p.get("status") is None or p.get("executedQty") is None:
        return None
    return _order_report(p, "cancelOrder", symbol,
                         opt_text(p.get("origClientOrderId"), "cancelOrder.origClientOrderId"))


def parse_trade(payload: object, index: int = 0) -> Fill:
    """One myTrades row."""
    w = f"myTrades[{index}]"
    p = obj(payload, w)
    is_buyer = p.get("isBuyer")
    if not isinstance(is_buyer, bool):
        raise ProtocolError(f"{w}.isBuyer: expected a boolean, got {is_buyer!r}")
    price = dec(p.get("price"), f"{w}.price", positive=True)
    qty = dec(p.get("qty"), f"{w}.qty", positive=True)
    quote_qty = dec(p.get("quoteQty"), f"{w}.quoteQty", default=ZERO, minimum=ZERO)
    _check_quote(price, qty, quote_qty, w, "price", "quoteQty")
    return Fill(
        trade_id=text(p.get("id"), f"{w}.id"),
        order_id=text(p.get("orderId"), f"{w}.orderId"),
        client_order_id=opt_text(p.get("clientOrderId"), f"{w}.clientOrderId"),
        side=Side.BUY if is_buyer else Side.SELL,
        price=price,
        qty=qty,
        quote_qty=quote_qty,
        fee=dec(p.get("commission"), f"{w}.commission", default=ZERO),
        fee_asset=opt_text(p.get("commissionAsset"), f"{w}.commissionAsset") or "",
        time_ms=integer(p.get("time"), f"{w}.time"),
        is_maker=p.get("isMaker") is True,
    )


def _check_quote(price: Decimal, qty: Decimal, quote: Decimal, w: str, price_field: str,
                 quote_field: str) -> None:
    """A fill's quote amount is its price times its quantity (cut to the quote precision): a
    price that lies (reported x100, say) is a ProtocolError naming the field and the value.
    Signs are checked on their own (the reads, daemon.adapters.mexc.push_checks)."""
    notional = price * qty
    if price > 0 and qty > 0 and quote > 0 and abs(quote - notional) > notional * QUOTE_TOLERANCE:
        raise ProtocolError(f"{w}.{price_field}: {price} x quantity {qty} is {notional}, not "
                            f"the {quote_field} {quote}")


def parse_listen_key(payload: object) -> str:
    return text(obj(payload, "userDataStream").get("listenKey"), "userDataStream.listenKey")


# --- websocket pushes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """One private account push: the asset's balances AFTER the change."""

    asset: str
    free: Decimal
    locked: Decimal
    change_type: str
    time_ms: int

    def balance(self) -> Balance:
        return Balance(asset=self.asset, free=self.free, locked=self.locked)


def decode_wrapper(frame: bytes) -> PushDataV3ApiWrapper:
    msg = PushDataV3ApiWrapper()
    try:
        msg.ParseFromString(frame)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ProtocolError(f"push frame: not a PushDataV3ApiWrapper ({exc})") from None
    return msg


def account_update(msg: PushDataV3ApiWrapper) -> AccountUpdate:
    a = msg.privateAccount
    return AccountUpdate(
        asset=text(a.vcoinName, "privateAccount.vcoinName"),
        # the sign is push_checks.check_account's
        free=_balance(a.balanceAmount, "privateAccount.balanceAmount", ZERO, None),
        locked=_balance(a.frozenAmount, "privateAccount.frozenAmount", ZERO, None),
        change_type=a.type,
        time_ms=a.time or msg.sendTime or msg.createTime,
    )


def order_push(msg: PushDataV3ApiWrapper) -> OrderReport:
    o = msg.privateOrders
    status = WS_ORDER_STATUS.get(o.status)
    if status is None:
        raise ProtocolError(f"privateOrders.status: unknown order status {o.status}")
    return OrderReport(
        order_id=text(o.id, "privateOrders.id"),
        client_order_id=o.clientId or None,
        symbol=msg.symbol,
        side=side(o.tradeType, "privateOrders.tradeType"),
        order_type=WS_ORDER_TYPES.get(o.orderType, str(o.orderType)),
        status=status,
        price=dec(o.price, "privateOrders.price", default=ZERO),
        orig_qty=dec(o.quantity, "privateOrders.quantity", default=ZERO),
        executed_qty=dec(o.cumulativeQuantity, "privateOrders.cumulativeQuantity", default=ZERO),
        cum_quote_qty=dec(o.cumulativeAmount, "privateOrders.cumulativeAmount", default=ZERO),
        time_ms=o.createTime,
        update_time_ms=msg.sendTime or msg.createTime or o.createTime,
        source="ws",
    )


def deal_push(msg: PushDataV3ApiWrapper) -> Fill:
    d = msg.privateDeals
    price = dec(d.price, "privateDeals.price")
    qty = dec(d.quantity, "privateDeals.quantity")
    quote_qty = dec(d.amount, "privateDeals.amount", default=ZERO)
    _check_quote(price, qty, quote_qty, "privateDeals", "price", "amount")
    return Fill(
        trade_id=text(d.tradeId, "privateDeals.tradeId"),
        order_id=text(d.orderId, "privateDeals.orderId"),
        client_order_id=d.clientOrderId or None,
        side=side(d.tradeType, "privateDeals.tradeType"),
        price=price,
        qty=qty,
        quote_qty=quote_qty,
        fee=dec(d.feeAmount, "privateDeals.feeAmount", default=ZERO),
        fee_asset=d.feeCurrency,
        time_ms=d.time,
        is_maker=d.isMaker,
    )


def body_kind(msg: PushDataV3ApiWrapper) -> str | None:
    """The name of the oneof ``body`` field that is set, or None."""
    kind: str | None = msg.WhichOneof("body")
    return kind
