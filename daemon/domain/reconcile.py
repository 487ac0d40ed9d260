"""Startup (and periodic) reconciliation: our stored orders plus what the venue reports ->
the order events to apply. Pure functions, no I/O, no clock (``now_ms`` is passed in).

Typical use at startup::

    ids = orders_to_query(state.orders.values(), now_ms, lost_watch_s)
    lookups = {cid: await rest.get_order(client_order_id=cid) or None for cid in ids}
    snap = VenueSnapshot(lookups, await rest.open_orders(), await rest.my_trades(start_ms))
    rec = reconcile(state.orders, snap, prefix=..., booked_trade_ids=state.booked_trade_ids,
                    now_ms=now_ms, lost_after=settings.execution.unknown_order_retries)
    # rec.orders: the changed orders (save them), rec.fills_to_book: book through cost basis,
    # rec.unknown_open: ours but unknown -> adopt_order() or report, rec.conflicts: report loudly,
    # rec.ignored: status changes the transition table refused (late reports) -> log and count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal

from daemon.domain.client_ids import is_ours
from daemon.domain.models import Fill, OrderReport
from daemon.domain.orders import (
    IgnoredTransition,
    Order,
    OrderEvent,
    OrderFilled,
    OrderMarkedLost,
    OrderNotFound,
    OrderState,
    OrderStatusReported,
    new_intent,
)
from daemon.errors import InputError, OrderConflict


@dataclass(frozen=True, slots=True)
class VenueSnapshot:
    """What the venue said. ``lookups``: GET /order by client id, None when the venue answered
    "does not exist" (-2013/-2011); a client id that was not (successfully) queried is absent.
    ``open_orders``: GET /openOrders for the symbol. ``trades``: myTrades covering the gap."""

    lookups: Mapping[str, OrderReport | None] = field(default_factory=dict)
    open_orders: Sequence[OrderReport] = ()
    trades: Sequence[Fill] = ()


@dataclass(frozen=True, slots=True)
class Reconciliation:
    events: tuple[tuple[str, OrderEvent], ...]  # (client_order_id, event), in applied order
    orders: Mapping[str, Order]  # the stored orders that changed, after the events
    fills_to_book: tuple[tuple[str, Fill], ...]  # (client_order_id, fill) not booked yet
    unknown_open: tuple[OrderReport, ...]  # open at the venue, our prefix, not in state
    foreign_open: tuple[OrderReport, ...]  # open at the venue, not ours (manual): report
    orphan_fills: tuple[Fill, ...]  # not booked, ours (prefix or unknown open order of ours)
    marked_lost: tuple[str, ...]
    conflicts: tuple[str, ...]  # OrderConflict messages; those events were not applied
    # (client_order_id, event, refused status change): the event's other facts were applied
    ignored: tuple[tuple[str, OrderEvent, IgnoredTransition], ...] = ()


def watched(order: Order, now_ms: int, lost_watch_s: float) -> bool:
    """True for orders worth asking the venue about: open ones, LOST ones still in their
    watch window, and terminal ones whose venue figures are not all booked yet."""
    if order.is_open:
        return True
    if order.status is OrderState.LOST:
        return not order.lost_watch_over(now_ms, lost_watch_s)
    return order.unbooked_qty > 0


def orders_to_query(orders: Iterable[Order], now_ms: int, lost_watch_s: float) -> list[str]:
    """Client ids to look up with GET /order before calling ``reconcile``."""
    return sorted(o.client_order_id for o in orders if watched(o, now_ms, lost_watch_s))


def reconcile(stored: Mapping[str, Order], venue: VenueSnapshot, *, prefix: str,
              booked_trade_ids: AbstractSet[str], now_ms: int,
              lost_after: int) -> Reconciliation:
    """The events that bring ``stored`` in line with ``venue``; see the module docstring."""
    by_venue_id = {o.order_id: c for c, o in stored.items() if o.order_id}
    open_by_coid = {r.client_order_id: r for r in venue.open_orders if r.client_order_id}
    for cid, rep in venue.lookups.items():
        if rep is not None and cid in stored:
            by_venue_id.setdefault(rep.order_id, cid)
    for cid, rep in open_by_coid.items():
        if cid in stored:
            by_venue_id.setdefault(rep.order_id, cid)

    plan: dict[str, list[OrderEvent]] = {}
    for cid, order in stored.items():
        plan[cid] = _status_events(order, venue.lookups, open_by_coid, now_ms, lost_after)

    orphans: list[Fill] = []
    unknown_open = tuple(r for r in venue.open_orders
                         if r.client_order_id not in stored and is_ours(r.client_order_id,
                                                                         prefix))
    unknown_ids = {r.order_id for r in unknown_open}
    for trade in sorted(venue.trades, key=lambda t: (t.time_ms, t.trade_id)):
        if trade.trade_id in booked_trade_ids:
            continue
        owner: str | None = trade.client_order_id
        if owner not in stored:
            owner = by_venue_id.get(trade.order_id)
        if owner is not None:
            plan[owner].append(OrderFilled(trade))
        elif is_ours(trade.client_order_id, prefix) or trade.order_id in unknown_ids:
            orphans.append(trade)

    return _apply_plan(stored, plan, booked_trade_ids, unknown_open, orphans,
                       tuple(r for r in venue.open_orders if not is_ours(r.client_order_id,
                                                                          prefix)))


def _status_events(order: Order, lookups: Mapping[str, OrderReport | None],
                   open_by_coid: Mapping[str, OrderReport], now_ms: int,
                   lost_after: int) -> list[OrderEvent]:
    coid = order.client_order_id
    report = lookups.get(coid) or open_by_coid.get(coid)
    if report is not None:
        return [OrderStatusReported(report)]
    if coid in lookups and order.status in (OrderState.INTENT, OrderState.SENT):
        events: list[OrderEvent] = [OrderNotFound(now_ms)]
        misses = order.not_found_count + 1
        if misses >= lost_after:
            events.append(OrderMarkedLost(f"not found at the venue after {misses} queries",
                                          now_ms))
        return events
    return []


def _apply_plan(stored: Mapping[str, Order], plan: Mapping[str, list[OrderEvent]],
                booked: AbstractSet[str], unknown_open: tuple[OrderReport, ...],
                orphans: list[Fill], foreign_open: tuple[OrderReport, ...]) -> Reconciliation:
    applied: list[tuple[str, OrderEvent]] = []
    changed: dict[str, Order] = {}
    to_book: list[tuple[str, Fill]] = []
    lost: list[str] = []
    conflicts: list[str] = []
    ignored: list[tuple[str, OrderEvent, IgnoredTransition]] = []
    for coid in sorted(plan):
        order = stored[coid]
        for event in plan[coid]:
            try:
                step = order.step(event)
            except OrderConflict as exc:
                conflicts.append(str(exc))
                continue
            if step.ignored is not None:
                ignored.append((coid, event, step.ignored))
            after = step.order
            if after is not order:
                applied.append((coid, event))
                order = after
        # fills in the order that are not booked (incl. ones applied just now)
        to_book += [(coid, f) for f in order.fills if f.trade_id not in booked]
        if order is not stored[coid]:
            changed[coid] = order
            if order.status is OrderState.LOST and stored[coid].status is not OrderState.LOST:
                lost.append(coid)
    return Reconciliation(
        events=tuple(applied), orders=changed, fills_to_book=tuple(to_book),
        unknown_open=unknown_open, foreign_open=foreign_open, orphan_fills=tuple(orphans),
        marked_lost=tuple(lost), conflicts=tuple(conflicts), ignored=tuple(ignored))


def adopt_order(report: OrderReport, now_ms: int) -> Order:
    """An order of ours the state does not know (e.g. Redis was emptied), rebuilt from the
    venue's report so that it can be tracked and its fills booked."""
    if not report.client_order_id:
        raise InputError(f"adopt order {report.order_id}: the report has no client order id")
    if report.orig_qty <= 0:
        raise InputError(f"adopt order {report.client_order_id}: origQty is {report.orig_qty}; "
                         "cannot track an order without a base quantity")
    price = report.price if report.price > Decimal(0) else None
    base = new_intent(report.client_order_id, report.symbol, report.side, report.order_type,
                      report.orig_qty, price, report.time_ms or now_ms, tag="adopted")
    return base.apply(OrderStatusReported(report))
