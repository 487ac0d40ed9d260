"""Reconciliation: stored orders + venue reports -> events, fills to book, lost/unknown orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.domain.models import OrderStatus, Side
from daemon.domain.orders import (
    Order,
    OrderAccepted,
    OrderFilled,
    OrderMarkedLost,
    OrderNotFound,
    OrderState,
    OrderStatusReported,
    OrderSubmitted,
)
from daemon.domain.reconcile import (
    Reconciliation,
    VenueSnapshot,
    adopt_order,
    orders_to_query,
    reconcile,
)
from daemon.errors import InputError
from tests.support.store_builders import COID, VENUE_ID, fill, intent, report

NOW = 10_000_000


def run(stored: list[Order], venue: VenueSnapshot, booked: frozenset[str] = frozenset(),
        lost_after: int = 3) -> Reconciliation:
    return reconcile({o.client_order_id: o for o in stored}, venue, prefix="rb",
                     booked_trade_ids=booked, now_ms=NOW, lost_after=lost_after)


def test_crash_after_send_books_the_fills_that_happened_while_down() -> None:
    o = intent()  # intent written, crash before "SENT" was recorded
    trades = [fill("t2", "60", coid=None, time_ms=3_000), fill("t1", "40", coid=None)]
    rec = run([o], VenueSnapshot(lookups={COID: report(OrderStatus.FILLED, "100")},
                                 trades=trades))
    after = rec.orders[COID]
    assert (after.status, after.order_id, after.filled_qty) == (
        OrderState.FILLED, VENUE_ID, Decimal("100"))
    assert [type(e).__name__ for _, e in rec.events] == [
        "OrderStatusReported", "OrderFilled", "OrderFilled"]
    assert [f.trade_id for _, f in rec.fills_to_book] == ["t1", "t2"]  # by time
    assert rec.conflicts == () and rec.unknown_open == () and rec.orphan_fills == ()


def test_booked_trades_are_not_booked_again() -> None:
    o = intent().apply(OrderAccepted(VENUE_ID, 1)).apply(OrderFilled(fill("t1", "40")))
    trades = [fill("t1", "40", coid=None), fill("t2", "10", coid=None)]
    rec = run([o], VenueSnapshot(trades=trades), booked=frozenset({"t1"}))
    assert [f.trade_id for _, f in rec.fills_to_book] == ["t2"]
    assert rec.orders[COID].filled_qty == Decimal("50")


def test_a_stored_fill_missing_from_the_booked_set_is_offered_for_booking() -> None:
    o = intent().apply(OrderAccepted(VENUE_ID, 1)).apply(OrderFilled(fill("t1", "40")))
    rec = run([o], VenueSnapshot())
    assert [f.trade_id for _, f in rec.fills_to_book] == ["t1"]
    assert rec.orders == {}


def test_not_found_counts_then_marks_lost() -> None:
    o = intent().apply(OrderSubmitted(1_000))
    rec = run([o], VenueSnapshot(lookups={COID: None}))
    assert [e for _, e in rec.events] == [OrderNotFound(NOW)]
    assert rec.orders[COID].not_found_count == 1 and rec.marked_lost == ()
    o2 = rec.orders[COID].apply(OrderNotFound(NOW))
    rec = run([o2], VenueSnapshot(lookups={COID: None}))
    assert rec.marked_lost == (COID,)
    assert rec.events[-1][1] == OrderMarkedLost("not found at the venue after 3 queries", NOW)
    assert rec.orders[COID].status is OrderState.LOST


def test_a_confirmed_order_is_never_marked_lost_and_unqueried_ones_are_left() -> None:
    o = intent().apply(OrderAccepted(VENUE_ID, 1))
    assert run([o], VenueSnapshot(lookups={COID: None}), lost_after=1).orders == {}
    assert run([intent()], VenueSnapshot(), lost_after=1).orders == {}


def test_open_orders_fill_in_for_a_missing_lookup() -> None:
    o = intent().apply(OrderSubmitted(1_000))
    rec = run([o], VenueSnapshot(open_orders=[report(OrderStatus.PARTIALLY_FILLED, "5")]))
    assert rec.orders[COID].status is OrderState.PARTIALLY_FILLED
    assert rec.orders[COID].unbooked_qty == Decimal("5")


def test_unknown_foreign_and_orphan() -> None:
    ours = report(OrderStatus.NEW, coid="rb-zz-0", order_id="V-ZZ")
    manual = report(OrderStatus.NEW, coid="myOrder1", order_id="V-MAN")
    nameless = report(OrderStatus.NEW, coid=None, order_id="V-NONE")
    trades = [fill("o1", "1", coid=None, order_id="V-ZZ"),
              fill("o2", "1", coid="rb-yy-1", order_id="V-YY"),
              fill("m1", "1", coid=None, order_id="V-MAN")]
    rec = run([], VenueSnapshot(open_orders=[ours, manual, nameless], trades=trades))
    assert rec.unknown_open == (ours,)
    assert rec.foreign_open == (manual, nameless)
    assert [f.trade_id for f in rec.orphan_fills] == ["o1", "o2"]
    assert rec.events == () and rec.fills_to_book == ()


def test_conflicting_report_is_collected_not_applied() -> None:
    o = intent().apply(OrderAccepted(VENUE_ID, 1))
    bad = report(OrderStatus.FILLED, "100", side=Side.SELL)
    rec = run([o], VenueSnapshot(lookups={COID: bad}))
    assert rec.orders == {}
    assert rec.conflicts == (f"order {COID}: report side SELL but the order is BUY",)


def test_late_fill_after_cancel_on_a_recent_order() -> None:
    o = intent().apply(OrderAccepted(VENUE_ID, 1)).apply(
        OrderStatusReported(report(OrderStatus.CANCELED, "0")))
    rec = run([o], VenueSnapshot(trades=[fill("t9", "3", coid=None)]))
    assert rec.orders[COID].status is OrderState.PARTIALLY_CANCELED
    assert [f.trade_id for _, f in rec.fills_to_book] == ["t9"]


def test_orders_to_query() -> None:
    open_ = intent(coid="rb-a-0")
    lost = intent(coid="rb-b-0").apply(OrderMarkedLost("x", NOW - 1_000))
    old_lost = intent(coid="rb-c-0").apply(OrderMarkedLost("x", NOW - 3_600_000))
    owed = intent(coid="rb-d-0").apply(OrderStatusReported(
        report(OrderStatus.FILLED, "100", coid="rb-d-0")))
    done = intent(coid="rb-e-0").apply(OrderFilled(fill("t", "100", coid="rb-e-0")))
    assert orders_to_query([open_, lost, old_lost, owed, done], NOW, 3600) == [
        "rb-a-0", "rb-b-0", "rb-d-0"]


def test_adopt_order() -> None:
    o = adopt_order(report(OrderStatus.PARTIALLY_FILLED, "10", coid="rb-q-0"), NOW)
    assert (o.client_order_id, o.status, o.qty, o.venue_executed_qty, o.tag) == (
        "rb-q-0", OrderState.PARTIALLY_FILLED, Decimal("100"), Decimal("10"), "adopted")
    assert adopt_order(report(OrderStatus.NEW, price="0", coid="rb-q-1"), NOW).price is None
    with pytest.raises(InputError, match="has no client order id"):
        adopt_order(report(OrderStatus.NEW, coid=None), NOW)
    with pytest.raises(InputError, match="origQty is 0"):
        adopt_order(report(OrderStatus.NEW, qty="0", coid="rb-q-2"), NOW)
