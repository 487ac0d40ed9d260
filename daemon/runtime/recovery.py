"""Startup reconciliation, before the first decision:

1. every order the state holds that is not finished (INTENT, SENT, NEW, PARTIALLY_FILLED) or
   LOST and still watched is looked up by client order id; its venue status and the fills
   that happened while the daemon was down (myTrades) are booked;
2. open orders at the venue with our client-id prefix that the state does not know are
   adopted (recorded, then followed like our own);
3. an INTENT/SENT the venue does not know after the configured retries is marked LOST (it was
   never placed as far as anyone can tell) and watched for late fills.

Returns the orders still open at the venue: the executor follows them (cancel at the timeout)
before any new decision is made.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Settings
from daemon.domain.client_ids import is_ours
from daemon.domain.models import OrderReport
from daemon.domain.orders import (
    Order,
    OrderFilled,
    OrderMarkedLost,
    OrderNotFound,
    OrderState,
    OrderStatusReported,
)
from daemon.errors import TransientExchangeError, UnknownOrder
from daemon.runtime.ledger import Ledger


async def query(rest: MexcRest, symbol: str, client_id: str) -> OrderReport | None:
    try:
        return await rest.get_order(symbol, client_order_id=client_id)
    except UnknownOrder:
        return None


async def book_report(rest: MexcRest, ledger: Ledger, order: Order,
                      report: OrderReport) -> Order:
    """Apply a venue report and every trade of that order from myTrades; record."""
    order = order.apply(OrderStatusReported(report))
    if report.executed_qty > 0 and order.order_id:
        for fill in await rest.my_trades(order.symbol, order_id=order.order_id):
            order = order.apply(OrderFilled(fill))
    return await ledger.record(order)


async def _resolve(rest: MexcRest, ledger: Ledger, settings: Settings, order: Order,
                   now_ms: int) -> Order:
    retries = settings.execution.unknown_order_retries
    for attempt in range(retries):
        try:
            report = await query(rest, settings.symbol, order.client_order_id)
        except TransientExchangeError as exc:
            logger.warning("reconcile {}: query failed ({})", order.client_order_id, exc)
            report = None
        if report is not None:
            return await book_report(rest, ledger, order, report)
        order = order.apply(OrderNotFound(now_ms))
        if order.status is OrderState.LOST:
            return await ledger.record(order)  # still unknown: keep watching, no more tries
        await asyncio.sleep(min(0.25 * 2**attempt, settings.execution.poll_max_interval_s))
    order = order.apply(OrderMarkedLost(f"not found after {retries} queries at startup",
                                        now_ms))
    logger.bind(client_order_id=order.client_order_id).error(
        "reconcile: the exchange does not know this order; marked LOST (never placed)")
    return await ledger.record(order)


def adopt(report: OrderReport) -> Order:
    """An order of ours the state does not know (its intent was lost with Redis content)."""
    assert report.client_order_id is not None
    return Order(client_order_id=report.client_order_id, symbol=report.symbol,
                 side=report.side, order_type=report.order_type,
                 qty=report.orig_qty if report.orig_qty > 0 else report.executed_qty,
                 price=report.price if report.price > 0 else None, created_ms=report.time_ms,
                 status=OrderState.SENT, updated_ms=report.time_ms, version=1,
                 tag="adopted")


async def reconcile(rest: MexcRest, ledger: Ledger, settings: Settings,
                    now_ms: int) -> list[Order]:
    stored = [o for o in ledger.orders.values()
              if o.is_open or (o.status is OrderState.LOST and not o.lost_watch_over(
                  now_ms, settings.execution.lost_order_watch_s))]
    for order in sorted(stored, key=lambda o: o.created_ms):
        result = await _resolve(rest, ledger, settings, order, now_ms)
        logger.bind(client_order_id=order.client_order_id).info(
            "reconcile: {} -> {} (filled {})", order.status.value, result.status.value,
            result.filled_qty)
    prefix = settings.execution.client_order_prefix
    for report in await rest.open_orders(settings.symbol):
        coid = report.client_order_id
        if coid in ledger.orders or not is_ours(coid, prefix):
            if coid not in ledger.orders:
                logger.warning("open order {} ({}) is not ours; left alone", report.order_id,
                               coid)
            continue
        logger.bind(client_order_id=coid).warning(
            "reconcile: open order of ours unknown to the state; adopting it")
        await book_report(rest, ledger, adopt(report), report)
    still_open = [o for o in ledger.orders.values() if o.is_open and o.order_id]
    logger.info("reconcile done: {} order(s) still open, {} fill(s) on the books, avg cost {}",
                len(still_open), len(ledger.booked), ledger.cost.avg_cost)
    return sorted(still_open, key=lambda o: o.created_ms)

