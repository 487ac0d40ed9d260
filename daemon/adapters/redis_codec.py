"""Orders and fills <-> the JSON objects the Redis store keeps (FORMAT_VERSION 1).

Decimals are strings (exact), times are integer ms. The domain owns the types and their rules
(``daemon.domain.orders``); this module owns how they are stored, byte for byte: keys and
values must stay readable by every version that wrote them. Decoding errors are StateError
naming where the object came from (the Redis key) and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from daemon.adapters.redis_records import RECORDS, decode_json
from daemon.domain.models import Fill, Side
from daemon.domain.orders import Order, OrderState
from daemon.errors import StateError

FORMAT_VERSION = 1


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def fill_to_dict(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id, "order_id": fill.order_id,
        "client_order_id": fill.client_order_id, "side": fill.side.value,
        "price": str(fill.price), "qty": str(fill.qty), "quote_qty": str(fill.quote_qty),
        "fee": str(fill.fee), "fee_asset": fill.fee_asset, "time_ms": fill.time_ms,
        "is_maker": fill.is_maker,
    }


def order_to_dict(o: Order) -> dict[str, Any]:
    """JSON-able dict, decimals as strings."""
    return {
        "v": FORMAT_VERSION, "client_order_id": o.client_order_id, "symbol": o.symbol,
        "side": o.side.value, "order_type": o.order_type, "qty": str(o.qty),
        "price": _dec(o.price), "created_ms": o.created_ms, "status": o.status.value,
        "order_id": o.order_id, "updated_ms": o.updated_ms,
        "fills": [fill_to_dict(f) for f in o.fills],
        "venue_executed_qty": str(o.venue_executed_qty),
        "venue_cum_quote": str(o.venue_cum_quote),
        "cancel_requested_ms": o.cancel_requested_ms, "not_found_count": o.not_found_count,
        "lost_ms": o.lost_ms, "reject_reason": o.reject_reason, "version": o.version,
        "tag": o.tag,
    }


def fill_from_dict(data: object, *, key: str = "fill") -> Fill:
    r = RECORDS.fields(data, key)
    return Fill(
        trade_id=r.text("trade_id"), order_id=r.text("order_id"),
        client_order_id=r.opt_text("client_order_id"), side=r.enum("side", Side),
        price=r.decimal("price"), qty=r.decimal("qty"), quote_qty=r.decimal("quote_qty"),
        fee=r.decimal("fee"), fee_asset=r.text("fee_asset"), time_ms=r.integer("time_ms"),
        is_maker=r.flag("is_maker"),
    )


def order_from_dict(data: object, *, key: str = "order") -> Order:
    """Inverse of order_to_dict; StateError naming ``key`` and the field on corrupt input."""
    r = RECORDS.fields(data, key)
    version = r.integer("v")
    if version != FORMAT_VERSION:
        raise StateError(f"{key}: field 'v' is {version}, this version reads {FORMAT_VERSION}")
    fills = tuple(fill_from_dict(f, key=f"{key}.fills[{i}]")
                  for i, f in enumerate(r.array("fills")))
    try:
        return Order(
            client_order_id=r.text("client_order_id"), symbol=r.text("symbol"),
            side=r.enum("side", Side), order_type=r.text("order_type"), qty=r.decimal("qty"),
            price=r.opt_decimal("price"), created_ms=r.integer("created_ms"),
            status=r.enum("status", OrderState), order_id=r.opt_text("order_id"),
            updated_ms=r.integer("updated_ms"), fills=fills,
            venue_executed_qty=r.decimal("venue_executed_qty"),
            venue_cum_quote=r.decimal("venue_cum_quote"),
            cancel_requested_ms=r.opt_integer("cancel_requested_ms"),
            not_found_count=r.integer("not_found_count"), lost_ms=r.opt_integer("lost_ms"),
            reject_reason=r.opt_text("reject_reason"), version=r.integer("version"),
            tag=r.opt_text("tag") or "",
        )
    except ValueError as exc:
        raise StateError(f"{key}: {exc}") from None


def parse_orders(hk: str, orders_raw: Mapping[str, bytes]) -> dict[str, Order]:
    """The ``orders`` hash, each order checked to be stored under its own client id."""
    orders: dict[str, Order] = {}
    for coid, body in orders_raw.items():
        order = order_from_dict(decode_json(body, f"{hk}[{coid}]"), key=f"{hk}[{coid}]")
        if order.client_order_id != coid:
            raise StateError(f"{hk}[{coid}]: field 'client_order_id' is "
                             f"{order.client_order_id!r}, expected {coid!r}")
        orders[coid] = order
    return orders
