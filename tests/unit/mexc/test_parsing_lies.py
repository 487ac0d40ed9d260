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


@pytest.mark.parametrize(("free", "message"), [
    (None, r"account\.balances\[0\]\.free: expected a decimal, got None"),
    ("-5", r"account\.balances\[0\]\.free: must be >= 0, got -5"),
    ("1e300", r"account\.balances\[0\]\.free: 1e\+300 is above 1e\+15"),
    ("Infinity", r"account\.balances\[0\]\.free"),
    ("NaN", r"account\.balances\[0\]\.free"),
])
def test_an_account_balance_that_cannot_be_true_is_refused(free: object, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parsing.parse_account({"balances": [{"asset": "QRL", "free": free, "locked": "0"}]})
    most = parsing.parse_account({"balances": [{"asset": "QRL", "free": "1e15", "locked": "0"}]})
    assert most["QRL"].free == Decimal("1e15")  # the bound itself is accepted


def test_an_account_push_beyond_any_real_holding_is_refused() -> None:
    msg = PushDataV3ApiWrapper(channel="spot@private.account.v3.api.pb")
    msg.privateAccount.vcoinName, msg.privateAccount.balanceAmount = "QRL", "1e300"
    with pytest.raises(ProtocolError, match=r"privateAccount\.balanceAmount: 1e\+300 is above"):
        parsing.account_update(msg)
    msg.privateAccount.balanceAmount = "12.5"
    assert parsing.account_update(msg).free == Decimal("12.5")
