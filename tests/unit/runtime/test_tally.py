"""BookTally: fills by side, fees by asset, and an order counted once per status it ends in
(an order written again in the same status is not counted again; LOST then FILLED is both)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from daemon.domain.models import Side
from daemon.domain.orders import OrderState
from daemon.runtime.tally import BookTally
from tests.support.store_builders import fill, intent


def test_fills_and_fees_add_up_by_side_and_asset() -> None:
    tally = BookTally()
    tally.booked([fill("1", "10", fee="0.01"), fill("2", "5", fee="0.02", side=Side.SELL)])
    tally.booked([fill("3", "1", fee="0.5", fee_asset="QRL")])
    assert tally.fills == {"BUY": 2, "SELL": 1}
    assert tally.fees == {"USDT": Decimal("0.03"), "QRL": Decimal("0.5")}


def test_an_order_counts_once_per_status_it_ends_in() -> None:
    tally = BookTally()
    sent = intent()
    new = replace(sent, status=OrderState.NEW)
    filled = replace(sent, status=OrderState.FILLED)
    tally.adopted(None, sent)
    tally.adopted(sent, new)
    assert not tally.orders_ended
    tally.adopted(new, filled)
    tally.adopted(filled, filled)  # written again (a late fill booked): not another order
    assert tally.orders_ended == {"FILLED": 1}
    lost = replace(intent(coid="rb-t62utc-1"), status=OrderState.LOST)
    tally.adopted(None, lost)
    tally.adopted(lost, replace(lost, status=OrderState.FILLED))  # a late fill found it
    tally.adopted(None, replace(intent(coid="rb-t62utc-2"), status=OrderState.REJECTED))
    assert tally.orders_ended == {"FILLED": 2, "LOST": 1, "REJECTED": 1}
