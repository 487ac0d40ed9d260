"""Startup reconciliation, before the first decision: the I/O around the pure
``daemon.domain.reconcile``.

1. every order the state holds that may still change (open, LOST within its watch, or with
   unbooked venue figures) is looked up by client order id; an INTENT/SENT the venue does not
   know is asked again with backoff (MEXC answers -2013 briefly after a create) before it is
   concluded never placed (LOST, still watched for late fills): daemon.runtime.resolution;
2. the trades of those orders (myTrades by order id) are booked: fills that happened while the
   daemon was down;
3. open orders with our client-id prefix that the state does not know are adopted;
4. orders of ours of the last 24 hours (allOrders) that the state does not know and that have
   fills not booked (Redis lost or rolled back the books after they were placed) are adopted
   as they ended, and those fills booked.

Returns the orders still open at the venue: the executor follows them (cancel at the timeout)
before any new decision is made.
"""

from __future__ import annotations

from decimal import Decimal

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Settings
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import ExchangeRules, Fill, OrderReport
from daemon.domain.orders import Order, OrderFilled, OrderState
from daemon.domain.reconcile import VenueSnapshot, adopt_order, orders_to_query, reconcile
from daemon.errors import ExchangeError, InputError, TransientExchangeError
from daemon.runtime.ledger import Ledger
from daemon.runtime.resolution import Found, Lookup, NoAnswer, NotFound, Patience, resolve


async def _lookup(rest: MexcRest, settings: Settings, order: Order, now_ms: int) -> Lookup:
    """The order asked about with the startup patience. A fatal error (auth, garbage) is
    raised: startup does not go on past it."""
    patience = Patience.at_startup(settings.execution, unconfirmed=order.status in (
        OrderState.INTENT, OrderState.SENT))
    result = await resolve(rest, settings.symbol, order.client_order_id, patience,
                           order_id=order.order_id,
                           age_s=_unknown_for_s(order, settings, now_ms))
    if isinstance(result, NoAnswer):
        if result.error is not None and not isinstance(result.error, TransientExchangeError):
            raise result.error
        logger.warning("reconcile {}: query failed ({}); left for later",
                       order.client_order_id, result.error)
    return result


def _unknown_for_s(order: Order, settings: Settings, now_ms: int) -> float:
    """How long the exchange has had to learn of the order: its create may have arrived at any
    moment of the request, so counted from the intent plus the request timeout."""
    sent_by_ms = order.created_ms + settings.exchange.request_timeout_ms
    return max(0, now_ms - sent_by_ms) / 1000


async def _trades_of(rest: MexcRest, symbol: str, order_ids: set[str]) -> list[Fill]:
    trades: list[Fill] = []
    for order_id in sorted(order_ids):
        try:
            trades += await rest.my_trades(symbol, order_id=order_id)
        except ExchangeError as exc:
            logger.warning("reconcile: myTrades for {} failed ({})", order_id, exc)
    return trades


async def reconcile_with_venue(rest: MexcRest, ledger: Ledger, settings: Settings,
                               now_ms: int) -> list[Order]:
    ex = settings.execution
    ids = orders_to_query(ledger.orders.values(), now_ms, ex.lost_order_watch_s)
    lookups: dict[str, OrderReport | None] = {}
    for coid in ids:
        match await _lookup(rest, settings, ledger.orders[coid], now_ms):
            case Found(report):
                lookups[coid] = report
            case NotFound():
                lookups[coid] = None
    open_orders = await rest.open_orders(settings.symbol)
    order_ids = {r.order_id for r in lookups.values() if r is not None and r.executed_qty > 0}
    order_ids |= {ledger.orders[c].order_id or "" for c in ids} - {""}
    order_ids |= {r.order_id for r in open_orders if r.executed_qty > 0}
    trades = await _trades_of(rest, settings.symbol, order_ids)
    rec = reconcile(ledger.orders, VenueSnapshot(lookups, open_orders, trades),
                    prefix=ex.client_order_prefix, booked_trade_ids=ledger.booked,
                    now_ms=now_ms, lost_after=1)
    for message in rec.conflicts:
        logger.error("reconcile conflict (not applied): {}", message)
    for coid, event, ignored in rec.ignored:
        ledger.note_ignored(coid, event, ignored)
    for report in rec.foreign_open:
        logger.warning("open order {} ({}) is not ours; left alone", report.order_id,
                       report.client_order_id)
    for coid in rec.marked_lost:
        logger.bind(client_order_id=coid).error(
            "reconcile: the exchange does not know this order; LOST (never placed), watched")
    for coid, order in rec.orders.items():
        before = ledger.orders[coid]
        await ledger.record(order)
        logger.bind(client_order_id=coid).info("reconcile: {} -> {} (filled {})",
                                               before.status.value, order.status.value,
                                               order.filled_qty)
    await _adopt(ledger, rec.unknown_open, trades, now_ms)
    await _catch_up(rest, ledger, settings, now_ms)
    for fill in rec.orphan_fills:
        logger.warning("reconcile: trade {} of order {} has no order of ours to book on",
                       fill.trade_id, fill.order_id)
    still_open = sorted((o for o in ledger.orders.values() if o.is_open and o.order_id),
                        key=lambda o: o.created_ms)
    logger.info("reconcile done: {} order(s) still open, {} fill(s) on the books, avg cost {}",
                len(still_open), len(ledger.booked), ledger.cost.avg_cost)
    return still_open


async def _adopt(ledger: Ledger, reports: tuple[OrderReport, ...], trades: list[Fill],
                 now_ms: int) -> None:
    for report in reports:
        try:
            order = adopt_order(report, now_ms)
        except InputError as exc:
            logger.error("reconcile: cannot adopt {}: {}", report.order_id, exc)
            continue
        for fill in trades:
            if fill.order_id == report.order_id:
                order = ledger.apply_event(order, OrderFilled(fill))
        logger.bind(client_order_id=order.client_order_id).warning(
            "reconcile: {} order of ours unknown to the state; adopted",
            "finished" if order.is_terminal else "open")
        await ledger.record(order)


CATCH_UP_WINDOW_MS = 24 * 3600 * 1000  # allOrders' default window (PROTOCOL.md 2.2)


async def _catch_up(rest: MexcRest, ledger: Ledger, settings: Settings, now_ms: int) -> None:
    """Finished orders of ours the state does not know, with fills it has not booked: the
    write-ahead intent of every order we send is in Redis, so such an order means Redis lost
    or rolled back the books after it was placed. Adopted as it ended, its fills booked."""
    prefix = settings.execution.client_order_prefix
    try:
        # the exchange's clock (orders carry its times), not ours
        start_ms = rest.timestamp_ms() - CATCH_UP_WINDOW_MS
        reports = await rest.all_orders(settings.symbol, start_ms=start_ms, limit=1000)
    except ExchangeError as exc:
        logger.warning("reconcile: allOrders failed ({}); orders the books lost are not "
                       "looked for", exc)
        return
    missing = [r for r in reports if r.client_order_id and r.client_order_id.startswith(prefix)
               and r.client_order_id not in ledger.orders and r.status.terminal
               and r.executed_qty > 0]
    known = await ledger.store.stored_orders([r.client_order_id or "" for r in missing])
    for report in sorted(missing, key=lambda r: r.time_ms or 0):
        if report.client_order_id in known:
            continue  # ended and booked: the books hold it (memory keeps only the newest)
        fills = await _trades_of(rest, settings.symbol, {report.order_id})
        if not fills or await ledger.store.booked_among(fills) >= {f.trade_id for f in fills}:
            continue  # booked long ago (the order aged out of the recent ones)
        logger.bind(client_order_id=report.client_order_id).warning(
            "reconcile: finished order of ours with fills the books do not have ({} {} of {});"
            " adopted and booked", report.status.value, report.executed_qty, report.orig_qty)
        await _adopt(ledger, (report,), fills, now_ms)


async def initial_cost_basis(rest: MexcRest, rules: ExchangeRules, initial: Decimal | None,
                             held: Decimal) -> tuple[CostBasis, str] | None:
    """The cost basis a pair's books start from: ``held`` base at the configured
    ``initial`` average, else the account's recent trades of the pair (None: they give no
    average), with where it came from."""
    if initial is not None:
        return CostBasis.initial(initial, held), "config strategy.initial_cost_basis"
    fills = await rest.my_trades(rules.symbol, limit=100)
    cost = CostBasis().apply_all(fills, base_asset=rules.base_asset,
                                 quote_asset=rules.quote_asset)
    if cost.avg_cost is None:
        return None
    return cost, f"{len(fills)} recent trade(s) on the exchange"
