"""The order table's refusals are explicit: ``Order.step`` names the status change it ignored and
why (stale, after the end, not allowed), while ``apply`` behaves as before."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.domain.orders import (
    ALLOWED,
    Applied,
    IgnoredKind,
    IgnoredTransition,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderState,
    OrderStatusReported,
    OrderSubmitFailed,
    OrderSubmitted,
    ignored_kind,
    new_intent,
)
from daemon.domain.reconcile import VenueSnapshot, reconcile

S = OrderState
COID = "rb-t62utc-0"
VENUE_ID = "C02__1"


def intent() -> Order:
    return new_intent(COID, "QRLUSDT", Side.BUY, "LIMIT", Decimal(100), Decimal("0.5"), 1_000)


def fill(trade_id: str, qty: str) -> Fill:
    q = Decimal(qty)
    return Fill(trade_id=trade_id, order_id=VENUE_ID, client_order_id=COID, side=Side.BUY,
                price=Decimal("0.5"), qty=q, quote_qty=q / 2, fee=Decimal(0), fee_asset="USDT",
                time_ms=2_000)


def report(status: OrderStatus, executed: str, update_ms: int = 2_000) -> OrderReport:
    e = Decimal(executed)
    return OrderReport(order_id=VENUE_ID, client_order_id=COID, symbol="QRLUSDT", side=Side.BUY,
                       order_type="LIMIT", status=status, price=Decimal("0.5"),
                       orig_qty=Decimal(100), executed_qty=e, cum_quote_qty=e / 2,
                       time_ms=1_000, update_time_ms=update_ms)


def accepted() -> Order:
    return intent().apply(OrderSubmitted(1_100)).apply(OrderAccepted(VENUE_ID, 1_200))


def filled() -> Order:
    return accepted().apply(OrderStatusReported(report(OrderStatus.FILLED, "100", 3_000)))


def partially_canceled() -> Order:
    return accepted().apply(
        OrderStatusReported(report(OrderStatus.CANCELED, "40", 3_000)))


def test_an_older_report_after_a_newer_one_is_stale_and_changes_nothing() -> None:
    o = filled()
    step = o.step(OrderStatusReported(report(OrderStatus.PARTIALLY_FILLED, "30", 2_500)))
    assert step == Applied(o, IgnoredTransition(IgnoredKind.STALE, S.FILLED,
                                                S.PARTIALLY_FILLED))
    assert step.order is o
    step = o.step(OrderStatusReported(report(OrderStatus.NEW, "0", 2_500)))
    # a NEW report is read with the order's executed quantity: FILLED is what it proposes
    assert step == Applied(o, None)


@pytest.mark.parametrize(("before", "event", "expected"), [
    (accepted, OrderSubmitted(1_300), IgnoredTransition(IgnoredKind.STALE, S.NEW, S.SENT)),
    (accepted, OrderSubmitFailed("late", 1_300),
     IgnoredTransition(IgnoredKind.NOT_ALLOWED, S.NEW, S.REJECTED)),
    (filled, OrderCanceled(3_500),
     IgnoredTransition(IgnoredKind.AFTER_TERMINAL, S.FILLED, S.PARTIALLY_CANCELED)),
    (filled, OrderStatusReported(report(OrderStatus.CANCELED, "60", 3_500)),
     IgnoredTransition(IgnoredKind.AFTER_TERMINAL, S.FILLED, S.PARTIALLY_CANCELED)),
], ids=["submitted_after_new", "rejected_after_new", "cancel_ack_after_filled",
        "canceled_report_after_filled"])
def test_refused_changes_name_their_kind(before: Callable[[], Order], event: OrderEvent,
                                         expected: IgnoredTransition) -> None:
    o = before()
    step = o.step(event)
    assert step.ignored == expected
    assert step.order is o  # nothing else in these events changes the order
    assert o.apply(event) is o
    assert o.reject_reason is None


def test_a_fill_after_the_end_is_booked_but_its_status_is_refused() -> None:
    o = partially_canceled()
    assert o.status is S.PARTIALLY_CANCELED
    step = o.step(OrderFilled(fill("t1", "40")))
    assert step.ignored == IgnoredTransition(IgnoredKind.STALE, S.PARTIALLY_CANCELED,
                                             S.PARTIALLY_FILLED)
    assert step.order.status is S.PARTIALLY_CANCELED
    assert step.order.filled_qty == Decimal(40) and step.order.version == o.version + 1
    assert o.apply(OrderFilled(fill("t1", "40"))) == step.order


def test_allowed_changes_and_repeats_ignore_nothing() -> None:
    o = accepted()
    assert o.step(OrderStatusReported(report(OrderStatus.NEW, "0"))) == Applied(o, None)
    step = o.step(OrderFilled(fill("t1", "40")))
    assert step.ignored is None and step.order.status is S.PARTIALLY_FILLED
    # venue quirk: CANCELED moves on when a fill shows up after the cancel ack
    canceled = o.apply(OrderCanceled(3_000))
    assert canceled.status is S.CANCELED
    step = canceled.step(OrderFilled(fill("t1", "40")))
    assert step.ignored is None and step.order.status is S.PARTIALLY_CANCELED


def test_every_refused_pair_has_one_kind() -> None:
    for current in S:
        for proposed in S:
            if proposed is current or proposed in ALLOWED[current]:
                continue
            kind = ignored_kind(current, proposed)
            if current.terminal:  # an ended order refuses as stale or as after its end
                assert kind is not IgnoredKind.NOT_ALLOWED, (current, proposed)
    assert ignored_kind(S.PARTIALLY_FILLED, S.NEW) is IgnoredKind.STALE
    assert ignored_kind(S.CANCELED, S.NEW) is IgnoredKind.STALE
    assert ignored_kind(S.REJECTED, S.FILLED) is IgnoredKind.AFTER_TERMINAL
    assert ignored_kind(S.LOST, S.REJECTED) is IgnoredKind.NOT_ALLOWED


def test_reconcile_reports_what_it_ignored() -> None:
    o = filled()
    stale = report(OrderStatus.PARTIALLY_FILLED, "30", 2_500)
    rec = reconcile({COID: o}, VenueSnapshot(lookups={COID: stale}), prefix="rb",
                    booked_trade_ids=frozenset(), now_ms=5_000, lost_after=3)
    assert rec.ignored == ((COID, OrderStatusReported(stale),
                            IgnoredTransition(IgnoredKind.STALE, S.FILLED, S.PARTIALLY_FILLED)),)
    assert dict(rec.orders) == {} and rec.conflicts == ()
