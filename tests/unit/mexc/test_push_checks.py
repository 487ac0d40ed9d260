"""Pushes that parse but cannot be true are ProtocolErrors naming the wire field and value
(issue 12): the streams skip them instead of acting on them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from daemon.adapters.mexc.parsing import AccountUpdate
from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.adapters.mexc.push_checks import check_account, check_fill, check_order
from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExchangeSettings, Settings
from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.errors import ProtocolError
from daemon.runtime.market_feed import MarketFeed

FILL = Fill("t1", "o1", "c1", Side.BUY, Decimal("0.05"), Decimal(10), Decimal("0.5"),
            Decimal(0), "USDT", 1)
REPORT = OrderReport("o1", "c1", "QRLUSDT", Side.BUY, "LIMIT", OrderStatus.PARTIALLY_FILLED,
                     Decimal("0.05"), Decimal(10), Decimal(4), Decimal("0.2"), 1, 1, "ws")


def test_good_pushes_pass_unchanged() -> None:
    assert check_fill(FILL) is FILL and check_order(REPORT) is REPORT
    by_quote = replace(REPORT, order_type="MARKET", orig_qty=Decimal(0))  # quantity 0
    assert check_order(by_quote) is by_quote
    update = AccountUpdate("USDT", Decimal(0), Decimal(0), "x", 1)
    assert check_account(update) is update


@pytest.mark.parametrize(("fill", "message"), [
    (replace(FILL, qty=Decimal(-5)), r"privateDeals\.quantity: -5 is not above 0"),
    (replace(FILL, qty=Decimal(0)), r"privateDeals\.quantity: 0 is not above 0"),
    (replace(FILL, price=Decimal(0)), r"privateDeals\.price: 0 is not above 0"),
    (replace(FILL, fee=Decimal(-1)), r"privateDeals\.feeAmount: -1 is negative"),
])
def test_impossible_fills(fill: Fill, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        check_fill(fill)


@pytest.mark.parametrize(("report", "message"), [
    (replace(REPORT, executed_qty=Decimal(11)),
     r"privateOrders\.cumulativeQuantity: 11 is above the order's quantity 10"),
    (replace(REPORT, executed_qty=Decimal(-1)), r"cumulativeQuantity: -1 is negative"),
    (replace(REPORT, price=Decimal(-1)), r"privateOrders\.price: -1 is negative"),
])
def test_impossible_order_reports(report: OrderReport, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        check_order(report)


def test_a_negative_balance_push() -> None:
    with pytest.raises(ProtocolError, match=r"privateAccount\.balanceAmount: -3 is negative"):
        check_account(AccountUpdate("USDT", Decimal(-3), Decimal(0), "x", 1))


def _kline(window: int, close: str) -> bytes:
    msg = PushDataV3ApiWrapper(channel="spot@public.kline.v3.api.pb@QRLUSDT@Min5",
                               symbol="QRLUSDT", createTime=1)
    k = msg.publicSpotKline
    k.interval, k.windowStart = "Min5", 1_700_000_100 + 300 * window
    k.windowEnd = k.windowStart + 300
    k.openingPrice = k.highestPrice = k.lowestPrice = "0.05"
    k.closingPrice, k.volume, k.amount = close, "10", "0.5"
    return msg.SerializeToString()


def test_a_kline_push_with_a_negative_price_never_closes_a_candle() -> None:
    settings = Settings(exchange=ExchangeSettings(kline_interval="Min5"))
    feed = MarketFeed(settings, MexcRest(settings.exchange, None), wall_ms=lambda: 0)
    feed.ingest(_kline(0, "-0.05"))
    update = feed.ingest(_kline(1, "0.05"))
    assert update is not None and update.closed == [] and feed.stats.bad_frames == 1
