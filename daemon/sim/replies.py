"""The simulator's order and trade bodies as the real MEXC writes them (PROTOCOL.md 2.2 and 9),
shaped by ``Realism``: the documented types when ``wire_types`` is off, the captured ones
(strings of digits, nulls, "-1") when on; full or minimal POST and DELETE /order replies; the
cancel reply's two client ids. Pure: no I/O, no clock."""

from __future__ import annotations

from typing import Any

from daemon.domain.money import ZERO, fmt
from daemon.sim.config import Realism
from daemon.sim.engine import Order, Trade

_MINIMAL_CANCEL = ("symbol", "orderId", "price", "origQty", "type", "side")
_CANCEL_KEYS = ("symbol", "orderId", "price", "origQty", "executedQty", "cummulativeQuoteQty",
                "status", "timeInForce", "type", "side")
_WORKING = ("NEW", "PARTIALLY_FILLED", "FILLED")  # isWorking is true on FILLED (captured)


def client_id(order: Order, realism: Realism) -> str | None:
    """An order placed without a client id reports "" or null (drawn per order, seeded)."""
    if order.client_order_id or not realism.wire_types:
        return order.client_order_id
    return order.blank_client_id


def _price(order: Order, realism: Realism) -> str:
    """A MARKET order sized by quantity reports the reference price it was placed at."""
    if realism.wire_types and order.price == 0 and order.orig_qty > 0:
        return fmt(order.ref_price)
    return fmt(order.price)


def order_object(order: Order, realism: Realism) -> dict[str, Any]:
    """GET /order, openOrders, allOrders."""
    d = order.to_mexc()
    if not realism.wire_types:
        return d
    price = order.price or (order.ref_price if order.orig_qty > 0 else ZERO)
    d.update({
        "orderListId": "-1", "clientOrderId": client_id(order, realism),
        "price": _price(order, realism), "timeInForce": None, "stopPrice": None,
        "icebergQty": None, "time": str(order.time_ms),
        "updateTime": None if order.is_open else str(order.update_ms),
        "isWorking": order.status in _WORKING,
        "origQuoteOrderQty": fmt(order.orig_quote_qty if order.orig_quote_qty
                                 else price * order.orig_qty),
        "cancelReason": None,  # set by MEXC for e.g. self-trade prevention, never here
    })
    return d


def post_reply(order: Order, realism: Realism, *, minimal: bool) -> dict[str, Any]:
    """POST /order: the documented reply, or the old minimal one."""
    list_id: int | str = "-1" if realism.wire_types else -1
    if minimal:
        return {"symbol": order.symbol, "orderId": order.order_id, "orderListId": list_id}
    return {"symbol": order.symbol, "orderId": order.order_id, "orderListId": list_id,
            "price": _price(order, realism), "origQty": fmt(order.orig_qty),
            "type": order.type, "side": order.side, "stpMode": "",
            "transactTime": str(order.time_ms) if realism.wire_types else order.time_ms}


def cancel_reply(order: Order, realism: Realism, *, cancel_id: str | None,
                 minimal: bool) -> dict[str, Any]:
    """DELETE /order (and each row of DELETE /openOrders). ``origClientOrderId`` is the
    order's client id; ``clientOrderId`` the cancel request's own id (``cancel_id``) unless
    ``Realism.cancel_client_id`` is ``echo``."""
    d = order_object(order, realism)
    if minimal:
        return {k: d[k] for k in _MINIMAL_CANCEL}
    out: dict[str, Any] = {"symbol": d["symbol"],
                           "origClientOrderId": client_id(order, realism)}
    out.update({k: d[k] for k in _CANCEL_KEYS})
    own = realism.cancel_client_id == "own"
    out["clientOrderId"] = cancel_id if own else client_id(order, realism)
    if realism.wire_types:
        out["cancelReason"] = None
    return out


def trade_row(trade: Trade, order: Order | None, realism: Realism) -> dict[str, Any]:
    """GET /myTrades row (``order``: the trade's order, for its blank client id)."""
    d = trade.to_mexc()
    if realism.wire_types:
        d.update({"orderListId": "-1", "time": str(trade.time_ms)})
        if order is not None:
            d["clientOrderId"] = client_id(order, realism)
    return d
