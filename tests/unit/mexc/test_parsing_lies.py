"""Figures from MEXC that parse but cannot be true never reach the books (issue 12, part 2):
a fill whose price is not its quote amount over its quantity (a price x100), an account
balance that is null, negative, not finite or beyond any real holding. Each is a
ProtocolError naming the field and the value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.adapters.mexc import parsing
from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.errors import ProtocolError

ROW = {"symbol": "QRLUSDT", "id": "ab12", "orderId": "C02__1", "price": "0.05", "qty": "3",
       "quoteQty": "0.15", "commission": "0", "commissionAsset": "USDT", "time": 5,
       "isBuyer": False}


def test_a_trade_row_at_100_times_its_price_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"myTrades\[0\]\.price: 5\.00 x quantity 3 is "
                                            r"15\.00, not the quoteQty 0\.15"):
        parsing.parse_trade({**ROW, "price": "5.00"})
    cut = parsing.parse_trade({**ROW, "qty": "3.3333", "quoteQty": "0.1666"})  # precision cut
    assert cut.quote_qty == Decimal("0.1666")
    assert parsing.parse_trade({**ROW, "quoteQty": None}).price == Decimal("0.05")  # not given


def _deal(price: str, quantity: str, amount: str) -> PushDataV3ApiWrapper:
    msg = PushDataV3ApiWrapper(channel="spot@private.deals.v3.api.pb", symbol="QRLUSDT")
    d = msg.privateDeals
    d.price, d.quantity, d.amount = price, quantity, amount
    d.tradeType, d.tradeId, d.orderId, d.time = 1, "t1", "o1", 5
    return msg


def test_a_deal_push_at_100_times_its_price_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"privateDeals\.price: 5\.00 x quantity 3 is "
                                            r"15\.00, not the amount 0\.15"):
        parsing.deal_push(_deal("5.00", "3", "0.15"))
    assert parsing.deal_push(_deal("0.05", "3", "0.15")).price == Decimal("0.05")
