"""Builders for orders, fills and venue reports used by the store tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from daemon.adapters.redis_archive import FILLS, MONTHS
from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.domain.orders import Order, new_intent

COID = "rb-t62utc-0"
VENUE_ID = "C02__583905164440776704043"


def intent(qty: str = "100", price: str = "0.5", side: Side = Side.BUY,
           coid: str = COID, now_ms: int = 1_000) -> Order:
    return new_intent(coid, "QRLUSDT", side, "LIMIT", Decimal(qty), Decimal(price), now_ms)


def fill(trade_id: str, qty: str, price: str = "0.5", side: Side = Side.BUY,
         coid: str | None = COID, order_id: str = VENUE_ID, time_ms: int = 2_000,
         fee: str = "0.01", fee_asset: str = "USDT") -> Fill:
    q, p = Decimal(qty), Decimal(price)
    return Fill(trade_id=trade_id, order_id=order_id, client_order_id=coid, side=side,
                price=p, qty=q, quote_qty=q * p, fee=Decimal(fee), fee_asset=fee_asset,
                time_ms=time_ms)


def report(status: OrderStatus, executed: str = "0", qty: str = "100", price: str = "0.5",
           side: Side = Side.BUY, coid: str | None = COID, order_id: str = VENUE_ID,
           update_ms: int = 2_000) -> OrderReport:
    e, p = Decimal(executed), Decimal(price)
    return OrderReport(order_id=order_id, client_order_id=coid, symbol="QRLUSDT", side=side,
                       order_type="LIMIT", status=status, price=p, orig_qty=Decimal(qty),
                       executed_qty=e, cum_quote_qty=e * p, time_ms=1_000,
                       update_time_ms=update_ms)


async def booked_ids(client: Any, prefix: str) -> set[str]:
    """Every trade id the books hold: the fields of the per-month archive hashes of fills."""
    months = sorted(m.decode() for m in await client.smembers(prefix + MONTHS))
    out: set[str] = set()
    for month in months:
        out |= {t.decode() for t in await client.hkeys(prefix + FILLS + month)}
    return out
