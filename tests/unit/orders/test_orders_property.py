"""Property: any permutation/duplication of a valid event sequence never moves the status
backwards, books every distinct fill once, and ends in the true final status."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.domain.models import OrderStatus
from daemon.domain.orders import (
    RANK,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderEvent,
    OrderFilled,
    OrderMarkedLost,
    OrderNotFound,
    OrderState,
    OrderStatusReported,
    OrderSubmitted,
)
from tests.support.store_builders import VENUE_ID, fill, intent, report

S = OrderState


@st.composite
def lifecycle(draw: st.DrawFn) -> tuple[int, list[int], str, list[OrderEvent], OrderState]:
    qty = draw(st.integers(1, 40))
    ending = draw(st.sampled_from(["filled", "partial_cancel", "canceled", "open"]))
    sizes: list[int] = []
    if ending == "filled":
        left = qty
        while left:
            part = draw(st.integers(1, left))
            sizes.append(part)
            left -= part
    elif ending in ("partial_cancel", "open") and qty > 1:
        left = qty - 1
        for _ in range(draw(st.integers(0 if ending == "open" else 1, 4))):
            if left == 0:
                break
            part = draw(st.integers(1, left))
            sizes.append(part)
            left -= part
    if ending == "partial_cancel" and not sizes:
        ending = "canceled"
    q = str(qty)
    events: list[OrderEvent] = [OrderSubmitted(1_100), OrderNotFound(1_150),
                                OrderMarkedLost("probe", 1_160), OrderAccepted(VENUE_ID, 1_200),
                                OrderStatusReported(report(OrderStatus.NEW, "0", qty=q))]
    cum = 0
    for i, size in enumerate(sizes):
        cum += size
        t = 2_000 + i * 10
        events.append(OrderFilled(fill(f"t{i}", str(size), time_ms=t)))
        status = OrderStatus.FILLED if cum == qty else OrderStatus.PARTIALLY_FILLED
        events.append(OrderStatusReported(report(status, str(cum), qty=q, update_ms=t)))
    final = {"filled": S.FILLED, "open": S.PARTIALLY_FILLED if sizes else S.NEW,
             "partial_cancel": S.PARTIALLY_CANCELED, "canceled": S.CANCELED}[ending]
    if ending in ("partial_cancel", "canceled"):
        venue = OrderStatus.PARTIALLY_CANCELED if sizes else OrderStatus.CANCELED
        events += [OrderCancelRequested(3_000),
                   OrderStatusReported(report(venue, str(cum), qty=q, update_ms=3_100))]
        if draw(st.booleans()):
            events.append(OrderCanceled(3_050))
    return qty, sizes, ending, events, final


@settings(max_examples=300, deadline=None)
@given(data=st.data(), case=lifecycle())
def test_permuted_and_duplicated_events_converge(
    data: st.DataObject, case: tuple[int, list[int], str, list[OrderEvent], OrderState]
) -> None:
    qty, sizes, _ending, events, final = case
    shuffled = data.draw(st.permutations(events))
    dups = data.draw(st.lists(st.sampled_from(events), max_size=6))
    positions = data.draw(st.lists(st.integers(0, len(shuffled)), min_size=len(dups),
                                   max_size=len(dups)))
    sequence = list(shuffled)
    for event, pos in zip(dups, positions, strict=True):
        sequence.insert(pos, event)

    order = intent(qty=str(qty))
    for event in sequence:
        after = order.apply(event)
        assert RANK[after.status] >= RANK[order.status], (order.status, event, after.status)
        if order.status is S.FILLED:
            assert after.status is S.FILLED
        assert after.version in (order.version, order.version + 1)
        order = after

    assert order.filled_qty == Decimal(sum(sizes))
    assert len(order.fills) == len(sizes)
    assert order.status is final
    assert order.order_id == VENUE_ID
    # applying everything again is a no-op
    for event in sequence:
        assert order.apply(event) is order
