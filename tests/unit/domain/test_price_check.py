"""The book top and the order price against the independent prices (issue 12, 1): a bookTicker
at 100x, 3x, 0.3x or 0.01x of the market, crossed, or zero never prices an order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from daemon.domain.models import BookTop
from daemon.domain.pricing import (
    PriceReference,
    check_book_top,
    check_fill_price,
    check_order_price,
)
from daemon.domain.reasons import ReasonCode

MARKET = D("0.0473")
REF = PriceReference(last_price=MARKET, ma_short=D("0.0470"), ma_long=D("0.0468"))
MAX = D("10")
SOURCE = "REST bookTicker QRLUSDT"


def top(bid: str, ask: str) -> BookTop:
    return BookTop(bid_price=D(bid), bid_qty=D("100"), ask_price=D(ask), ask_qty=D("100"))


def scaled(factor: str) -> BookTop:
    f = D(factor)
    return BookTop(bid_price=D("0.04725") * f, bid_qty=D("1"), ask_price=D("0.04735") * f,
                   ask_qty=D("1"))


def test_a_sane_book_passes() -> None:
    assert check_book_top(top("0.04725", "0.04735"), REF, MAX, SOURCE) is None


@pytest.mark.parametrize("factor", ["100", "3", "0.3", "0.01"])
def test_a_book_far_from_the_market_is_refused_naming_source_and_value(factor: str) -> None:
    book = scaled(factor)
    refusal = check_book_top(book, REF, MAX, SOURCE)
    assert refusal is not None and refusal.code is ReasonCode.PRICE_OUT_OF_BAND
    assert refusal.reason.startswith(f"{SOURCE} bid {book.bid_price.normalize():f} is ")
    assert "from the kline last price 0.0473, more than max_price_deviation_pct 10%" \
        in refusal.reason


def test_the_issue_example_is_refused() -> None:
    refusal = check_book_top(top("0.01412", "0.01419"), REF, MAX, SOURCE)
    assert refusal is not None
    # |0.01412 - 0.0473| / 0.0473 * 100 = 70.147...
    assert refusal.reason == ("REST bookTicker QRLUSDT bid 0.01412 is 70.15% away from the "
                              "kline last price 0.0473, more than max_price_deviation_pct 10%")


@pytest.mark.parametrize(("bid", "ask"), [("0.0474", "0.0473"), ("0.0473", "0.0473")])
def test_bid_at_or_above_ask_is_refused(bid: str, ask: str) -> None:
    refusal = check_book_top(top(bid, ask), REF, MAX, SOURCE)
    assert refusal is not None and refusal.code is ReasonCode.NO_PRICE
    assert refusal.reason == f"{SOURCE}: bid {bid} >= ask {ask}, a crossed book"


@pytest.mark.parametrize(("bid", "ask", "name"), [("0", "0.0473", "bid"),
                                                  ("0.0472", "0", "ask"),
                                                  ("-0.0472", "0.0473", "bid")])
def test_zero_or_negative_is_refused(bid: str, ask: str, name: str) -> None:
    refusal = check_book_top(top(bid, ask), REF, MAX, SOURCE)
    assert refusal is not None and refusal.code is ReasonCode.NO_PRICE
    value = bid if name == "bid" else ask
    assert refusal.reason == f"{SOURCE} {name} {value} is not a price (<= 0)"


def test_exactly_the_limit_passes_and_one_unit_more_does_not() -> None:
    ref = PriceReference(last_price=D("0.05"))
    # ask 0.055 is exactly 10% away; bid below it
    assert check_book_top(top("0.0549", "0.055"), ref, MAX, SOURCE) is None
    refusal = check_book_top(top("0.0549", "0.05500001"), ref, MAX, SOURCE)
    assert refusal is not None and refusal.code is ReasonCode.PRICE_OUT_OF_BAND
    assert "ask 0.05500001 is 10.00% away" in refusal.reason  # shown rounded, compared exact


def test_every_moving_average_is_a_reference_too() -> None:
    # near the last price, but 15% away from ma_long
    ref = PriceReference(last_price=D("0.05"), ma_short=D("0.05"), ma_long=D("0.0435"))
    refusal = check_book_top(top("0.04999", "0.05001"), ref, MAX, SOURCE)
    assert refusal is not None and "away from the ma_long 0.0435" in refusal.reason


def test_no_reference_price_refuses() -> None:
    refusal = check_book_top(top("0.0472", "0.0473"), PriceReference(None), MAX, SOURCE)
    assert refusal is not None and refusal.code is ReasonCode.NO_PRICE
    assert "no independent price" in refusal.reason


def test_the_order_price_is_checked_too() -> None:
    what = f"order price (from {SOURCE})"
    assert check_order_price(D("0.04701"), REF, MAX, what) is None
    assert check_order_price(None, REF, MAX, what) is None  # a MARKET sell has no price
    refusal = check_order_price(D("0.01412"), REF, MAX, what)
    assert refusal is not None and refusal.code is ReasonCode.PRICE_OUT_OF_BAND
    assert refusal.reason.startswith(f"{what} 0.01412 is 70.15% away")
    zero = check_order_price(D("0"), REF, MAX, what)
    assert zero is not None and zero.code is ReasonCode.NO_PRICE


@pytest.mark.parametrize(("fill", "order_price", "sent", "refused"), [
    ("0.0500", "0.0503", None, None),  # a BUY filled under its limit
    ("5.00", "0.0503", None, "order's own price"),  # x100 against the limit
    ("0.0005", "0.0503", None, "order's own price"),  # x0.01
    ("0.0500", None, PriceReference(D("0.05")), None),  # a MARKET sell
    ("5.00", None, PriceReference(D("0.05")), "kline last price"),
    ("5.00", None, None, None),  # a MARKET sell of an earlier life: nothing to check with
    ("0", "0.0503", None, "is not a price"),
])
def test_a_fill_price_is_checked_against_the_orders_own_price(
        fill: str, order_price: str | None, sent: PriceReference | None,
        refused: str | None) -> None:
    refusal = check_fill_price(D(fill), None if order_price is None
                               else D(order_price), sent, D(10), "trade t1 price")
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None and refused in refusal.reason
        assert refusal.reason.startswith("trade t1 price ")
