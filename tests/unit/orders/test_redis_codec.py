"""The order and fill JSON codec of the Redis adapter reads what earlier versions stored and
writes it back byte for byte (the values below were written by the codec when it still lived in
daemon/domain/orders.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.adapters.redis_codec import (
    fill_from_dict,
    fill_to_dict,
    order_from_dict,
    order_to_dict,
)
from daemon.adapters.redis_records import decode_json, encode_json
from daemon.domain.models import Side
from daemon.domain.orders import OrderState

PARTIAL = (
    '{"cancel_requested_ms":1700000000005,"client_order_id":"rb-c1-0","created_ms":1700000000000,'
    '"fills":[{"client_order_id":"rb-c1-0","fee":"0.000324072","fee_asset":"USDT",'
    '"is_maker":false,"order_id":"C02__1","price":"0.0525","qty":"12.3456",'
    '"quote_qty":"0.648144","side":"BUY","time_ms":1700000000003,"trade_id":"t1"},'
    '{"client_order_id":null,"fee":"0","fee_asset":"QRL","is_maker":true,"order_id":"C02__1",'
    '"price":"0.0524","qty":"1E+1","quote_qty":"0.524","side":"BUY","time_ms":1700000000004,'
    '"trade_id":"t2"}],"lost_ms":null,"not_found_count":0,"order_id":"C02__1",'
    '"order_type":"LIMIT","price":"0.0525","qty":"100","reject_reason":null,"side":"BUY",'
    '"status":"PARTIALLY_FILLED","symbol":"QRLUSDT","tag":"rebalance_buy",'
    '"updated_ms":1700000000004,"v":1,"venue_cum_quote":"0","venue_executed_qty":"0",'
    '"version":6}'
)
LOST = (
    '{"cancel_requested_ms":null,"client_order_id":"rb-c2-1","created_ms":1700000001000,'
    '"fills":[],"lost_ms":1700000001004,"not_found_count":2,"order_id":null,'
    '"order_type":"MARKET","price":null,"qty":"0.50","reject_reason":null,"side":"SELL",'
    '"status":"LOST","symbol":"QRLUSDT","tag":"","updated_ms":1700000001004,"v":1,'
    '"venue_cum_quote":"0","venue_executed_qty":"0","version":5}'
)
REJECTED = (
    '{"cancel_requested_ms":null,"client_order_id":"rb-c3-0","created_ms":1700000002000,'
    '"fills":[],"lost_ms":null,"not_found_count":0,"order_id":null,"order_type":"LIMIT_MAKER",'
    '"price":"0.05","qty":"3","reject_reason":"30004 Insufficient position","side":"BUY",'
    '"status":"REJECTED","symbol":"QRLUSDT","tag":"","updated_ms":1700000002001,"v":1,'
    '"venue_cum_quote":"0","venue_executed_qty":"0","version":2}'
)


@pytest.mark.parametrize("stored", [PARTIAL, LOST, REJECTED], ids=["partial", "lost", "rejected"])
def test_stored_orders_load_and_encode_to_the_same_bytes(stored: str) -> None:
    order = order_from_dict(decode_json(stored.encode(), "bot:X:orders[o]"), key="o")
    assert encode_json(order_to_dict(order), "order") == stored


def test_stored_values_mean_what_they_say() -> None:
    order = order_from_dict(decode_json(PARTIAL, "k"), key="k")
    assert (order.status, order.side, order.order_id, order.version) == \
           (OrderState.PARTIALLY_FILLED, Side.BUY, "C02__1", 6)
    assert order.filled_qty == Decimal("22.3456") and order.cancel_requested_ms == 1700000000005
    assert order.fees == {"USDT": Decimal("0.000324072"), "QRL": Decimal(0)}
    lost = order_from_dict(decode_json(LOST, "k"), key="k")
    assert (lost.status, lost.price, lost.not_found_count, lost.lost_ms) == \
           (OrderState.LOST, None, 2, 1700000001004)
    rejected = order_from_dict(decode_json(REJECTED, "k"), key="k")
    assert rejected.reject_reason == "30004 Insufficient position"


def test_a_stored_fill_round_trips() -> None:
    order = order_from_dict(decode_json(PARTIAL, "k"), key="k")
    for f in order.fills:
        text = encode_json(fill_to_dict(f), "fill")
        assert text in PARTIAL
        assert fill_from_dict(decode_json(text, "k"), key="k") == f
