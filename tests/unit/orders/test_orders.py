"""The order aggregate: transition table, fills by trade id, venue quirks, JSON codec."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from daemon.adapters.redis_codec import order_from_dict, order_to_dict
from daemon.domain.models import OrderStatus, Side
from daemon.domain.orders import (
    ALLOWED,
    RANK,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderFilled,
    OrderMarkedLost,
    OrderNotFound,
    OrderState,
    OrderStatusReported,
    OrderSubmitFailed,
    OrderSubmitted,
)
from daemon.errors import OrderConflict, StateError
from tests.support.store_builders import COID, VENUE_ID, fill, intent, report

S = OrderState


def accepted(qty: str = "100") -> Order:
    return intent(qty).apply(OrderSubmitted(1_100)).apply(OrderAccepted(VENUE_ID, 1_200))


def test_table_never_lowers_the_rank_and_terminals_are_closed() -> None:
    for src, targets in ALLOWED.items():
        for dst in targets:
            assert RANK[dst] >= RANK[src], (src, dst)
    assert ALLOWED[S.FILLED] == frozenset()
    assert ALLOWED[S.PARTIALLY_CANCELED] == frozenset()
    assert ALLOWED[S.REJECTED] == frozenset()
    assert ALLOWED[S.CANCELED] == {S.FILLED, S.PARTIALLY_CANCELED}


def test_happy_path_figures() -> None:
    o = accepted()
    assert (o.status, o.order_id, o.version) == (S.NEW, VENUE_ID, 3)
    o = o.apply(OrderFilled(fill("t1", "40", "0.4", fee="0.02")))  # a BUY fills at or below
    assert o.status is S.PARTIALLY_FILLED                          # its limit 0.5
    assert o.leaves_qty == Decimal("60")
    o = o.apply(OrderFilled(fill("t2", "60", "0.5", fee="0.03", fee_asset="MX")))
    assert o.status is S.FILLED
    assert o.filled_qty == Decimal("100")
    assert o.cum_quote == Decimal("46.0")
    assert o.avg_px == Decimal("0.46")
    assert o.fees == {"USDT": Decimal("0.02"), "MX": Decimal("0.03")}
    assert o.leaves_qty == 0
    assert o.trade_ids == {"t1", "t2"}
    assert o.version == 5


def test_late_rest_new_after_ws_filled_is_ignored() -> None:
    o = accepted().apply(OrderStatusReported(report(OrderStatus.FILLED, "100", update_ms=3_000)))
    assert o.status is S.FILLED
    late = o.apply(OrderStatusReported(report(OrderStatus.NEW, "0", update_ms=2_500)))
    assert late is o
    late = o.apply(OrderStatusReported(report(OrderStatus.PARTIALLY_FILLED, "30")))
    assert late is o
    assert o.unbooked_qty == Decimal("100")  # the fills are still owed by the deals stream
    o = o.apply(OrderFilled(fill("t1", "100")))
    assert (o.status, o.filled_qty, o.unbooked_qty) == (S.FILLED, Decimal("100"), Decimal(0))


def test_duplicate_fill_is_ignored_and_a_changed_one_is_a_conflict() -> None:
    o = accepted().apply(OrderFilled(fill("t1", "10")))
    assert o.apply(OrderFilled(fill("t1", "10"))) is o
    with pytest.raises(OrderConflict, match="trade t1 seen with qty 10"):
        o.apply(OrderFilled(fill("t1", "11")))


def test_canceled_then_late_fill_is_the_venue_quirk() -> None:
    o = accepted().apply(OrderCancelRequested(1_500))
    assert o.cancel_requested_ms == 1_500 and o.status is S.NEW
    o = o.apply(OrderStatusReported(report(OrderStatus.CANCELED, "0")))
    assert o.status is S.CANCELED and o.leaves_qty == 0
    partial = o.apply(OrderFilled(fill("t1", "30")))
    assert partial.status is S.PARTIALLY_CANCELED
    full = o.apply(OrderFilled(fill("t1", "100")))
    assert full.status is S.FILLED


def test_partially_canceled_is_terminal_but_still_books_owed_fills() -> None:
    o = accepted().apply(OrderStatusReported(report(OrderStatus.PARTIALLY_CANCELED, "30")))
    assert o.status is S.PARTIALLY_CANCELED and o.unbooked_qty == Decimal("30")
    assert o.apply(OrderStatusReported(report(OrderStatus.NEW))) is o
    assert o.apply(OrderCanceled(5_000)) is o
    o = o.apply(OrderFilled(fill("t1", "30")))
    assert o.status is S.PARTIALLY_CANCELED and o.filled_qty == Decimal("30")


def test_reported_canceled_with_fills_reads_as_partially_canceled() -> None:
    o = accepted().apply(OrderFilled(fill("t1", "5")))
    o = o.apply(OrderStatusReported(report(OrderStatus.CANCELED, "5")))
    assert o.status is S.PARTIALLY_CANCELED
    o2 = accepted().apply(OrderFilled(fill("t1", "5"))).apply(OrderCanceled(3_000))
    assert o2.status is S.PARTIALLY_CANCELED


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (OrderFilled(fill("t9", "101")), "above qty 100"),
        (OrderFilled(fill("t9", "1", order_id="OTHER")), "venue order id 'OTHER'"),
        (OrderFilled(fill("t9", "1", side=Side.SELL)), "side SELL"),
        (OrderFilled(fill("t9", "1", coid="rb-x-0")), "is for 'rb-x-0'"),
        (OrderStatusReported(report(OrderStatus.NEW, order_id="OTHER")), "'OTHER'"),
        (OrderStatusReported(report(OrderStatus.NEW, side=Side.SELL)), "report side SELL"),
        (OrderStatusReported(report(OrderStatus.FILLED, "101")), "executedQty 101 above"),
        (OrderStatusReported(report(OrderStatus.NEW, coid="zz-1-0")), "'zz-1-0'"),
        (OrderAccepted("OTHER", 1), "submit reply names venue order id 'OTHER'"),
    ],
)
def test_contradictions_raise_naming_the_problem(event: object, match: str) -> None:
    with pytest.raises(OrderConflict, match=match):
        accepted().apply(event)  # type: ignore[arg-type]


def test_submit_failed_rejects_only_before_the_venue_knows_the_order() -> None:
    o = intent().apply(OrderSubmitted(1_100)).apply(OrderSubmitFailed("30004 balance", 1_200))
    assert (o.status, o.reject_reason, o.is_terminal) == (S.REJECTED, "30004 balance", True)
    with pytest.raises(OrderConflict, match="rejected"):
        o.apply(OrderFilled(fill("t1", "1")))
    a = accepted()
    assert a.apply(OrderSubmitFailed("late", 2_000)) is a


def test_not_found_then_lost_then_found_again() -> None:
    o = intent().apply(OrderSubmitted(1_100))
    o = o.apply(OrderNotFound(1_200)).apply(OrderNotFound(1_300))
    assert o.not_found_count == 2 and o.status is S.SENT
    o = o.apply(OrderMarkedLost("not found 2 times", 1_400))
    assert (o.status, o.lost_ms, o.is_open, o.is_terminal) == (S.LOST, 1_400, False, False)
    assert not o.lost_watch_over(1_400 + 59_999, 60)
    assert o.lost_watch_over(1_400 + 60_000, 60)
    found = o.apply(OrderStatusReported(report(OrderStatus.FILLED, "100")))
    assert found.status is S.FILLED and found.not_found_count == 0 and found.order_id == VENUE_ID
    late_fill = o.apply(OrderFilled(fill("t1", "20")))
    assert late_fill.status is S.PARTIALLY_FILLED


def test_known_orders_are_not_marked_lost() -> None:
    o = accepted()
    assert o.apply(OrderMarkedLost("x", 5_000)) is o
    done = o.apply(OrderFilled(fill("t1", "100")))
    assert done.apply(OrderNotFound(6_000)) is done


def test_intent_can_jump_straight_to_a_venue_status_after_a_crash() -> None:
    o = intent().apply(OrderStatusReported(report(OrderStatus.PARTIALLY_FILLED, "10")))
    assert (o.status, o.order_id) == (S.PARTIALLY_FILLED, VENUE_ID)
    assert o.venue_executed_qty == Decimal(10)
    assert o.leaves_qty == Decimal("90")


def test_new_order_validation() -> None:
    with pytest.raises(ValueError, match="qty must be > 0"):
        intent(qty="0")
    with pytest.raises(ValueError, match="price must be > 0"):
        intent(price="-1")


def test_json_round_trip_keeps_decimals_as_strings() -> None:
    o = accepted().apply(OrderFilled(fill("t1", "12.3456", "0.123456")))
    o = o.apply(OrderCancelRequested(9))
    data = json.loads(json.dumps(order_to_dict(o)))
    assert data["qty"] == "100" and data["fills"][0]["qty"] == "12.3456"
    back = order_from_dict(data)
    assert back == o and back.trade_ids == {"t1"}
    assert back.filled_qty == Decimal("12.3456")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("status"), "bot:o: field 'status' is missing"),
        (lambda d: d.update(status="OPEN"), "field 'status' is 'OPEN', expected one of INTENT"),
        (lambda d: d.update(qty="abc"), "field 'qty' is not a decimal: 'abc'"),
        (lambda d: d.update(qty=1.5), "field 'qty' must be a string"),
        (lambda d: d.update(qty="-1"), "qty must be > 0"),
        (lambda d: d.update(version="3"), "field 'version' must be an integer"),
        (lambda d: d.update(v=2), "field 'v' is 2"),
        (lambda d: d.update(fills={}), "field 'fills' must be a list"),
        (lambda d: d["fills"][0].pop("trade_id"), r"bot:o.fills\[0\]: field 'trade_id'"),
        (lambda d: d["fills"][0].update(side="HOLD"), r"fills\[0\]: field 'side' is 'HOLD'"),
    ],
)
def test_corrupt_order_json_names_key_and_field(mutate: object, match: str) -> None:
    data = order_to_dict(accepted().apply(OrderFilled(fill("t1", "1"))))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(StateError, match=match):
        order_from_dict(data, key="bot:o")


def test_from_dict_rejects_non_objects() -> None:
    with pytest.raises(StateError, match="k: expected a JSON object, got list"):
        order_from_dict([], key="k")


def test_client_id_is_kept() -> None:
    assert accepted().client_order_id == COID


def test_a_fill_beyond_the_limit_or_with_a_wrong_quote_amount_is_a_contradiction() -> None:
    o = accepted()  # BUY 100 LIMIT 0.5
    with pytest.raises(OrderConflict, match=r"at 0\.6 is beyond the order's limit 0\.5"):
        o.apply(OrderFilled(fill("t1", "40", "0.6")))
    lying = replace(fill("t1", "40", "0.5"), price=Decimal("0.005"))  # price x0.01, quote kept
    with pytest.raises(OrderConflict, match=r"quoteQty 20\.0 is not price 0\.005 x qty 40"):
        o.apply(OrderFilled(lying))
    assert o.apply(OrderFilled(fill("t1", "40", "0.49"))).filled_qty == Decimal("40")
