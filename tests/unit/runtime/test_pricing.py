"""Order pricing from the top of the book."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from daemon.domain.models import BookTop, ExchangeRules, Side
from daemon.domain.pricing import PricedOrder, price_order

RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT", base_precision=2,
                      quote_precision=5, min_qty=D("0.01"), min_notional=D("1"),
                      taker_fee=D("0.0005"), maker_fee=D("0"),
                      order_types=("LIMIT", "LIMIT_MAKER"))
TOP = BookTop(bid_price=D("0.04990"), bid_qty=D("1000"), ask_price=D("0.05010"), ask_qty=D("900"))


def priced(side: Side, qty: str, order_type: str = "marketable_limit", spend: str = "1000",
           rules: ExchangeRules = RULES, min_notional: str = "5") -> PricedOrder | None:
    return price_order(side, D(qty), TOP, rules, order_type=order_type, slippage_pct=D("0.5"),
                       spendable_quote=D(spend), min_notional=D(min_notional))


def test_marketable_limit_buy_and_sell_inside_the_cap() -> None:
    buy = priced(Side.BUY, "2000")
    assert buy is not None
    # ask 0.0501 * 1.005 = 0.0503505, rounded down to 5 decimals
    assert (buy.order_type, buy.qty, buy.price) == ("LIMIT", D("2000"), D("0.05035"))
    sell = priced(Side.SELL, "2000")
    assert sell is not None
    # bid 0.0499 * 0.995 = 0.0496505, rounded up to 5 decimals
    assert (sell.order_type, sell.price) == ("LIMIT", D("0.04966"))


def test_buy_reclamped_to_spendable_at_the_limit_price() -> None:
    buy = priced(Side.BUY, "2000", spend="50")
    assert buy is not None
    # 50 / (0.05035 * 1.0005) = 992.5523..., floored to 2 decimals
    assert buy.qty == D("992.55")
    assert buy.qty * buy.price * (1 + RULES.taker_fee) <= D("50")


def test_too_small_after_pricing_is_none() -> None:
    assert priced(Side.BUY, "2000", spend="4") is None
    assert priced(Side.SELL, "99.99") is None  # 99.99 * 0.04966 < 5
    assert priced(Side.SELL, "101") is not None


def test_ioc_and_maker_types() -> None:
    ioc = priced(Side.BUY, "200", "ioc")
    maker = priced(Side.SELL, "200", "limit_maker")
    assert ioc is not None and ioc.order_type == "IMMEDIATE_OR_CANCEL"
    assert maker is not None and (maker.order_type, maker.price) == ("LIMIT_MAKER", D("0.0501"))


def test_market_falls_back_when_disabled_and_uses_quote_amount_when_allowed() -> None:
    fallback = priced(Side.BUY, "200", "market")
    assert fallback is not None and fallback.fell_back and fallback.order_type == "LIMIT"
    rules = replace(RULES, order_types=("LIMIT", "MARKET"))
    buy = priced(Side.BUY, "200", "market", rules=rules)
    assert buy is not None and buy.order_type == "MARKET"
    assert buy.quote_order_qty == D("10.02")  # 200 * 0.0501
    assert buy.qty == D("200.80")  # 10.02 / 0.0499 floored: a bound no fill can exceed
    sell = priced(Side.SELL, "200", "market", rules=rules)
    assert sell is not None
    assert (sell.order_type, sell.qty, sell.price) == ("MARKET", D("200"), None)
