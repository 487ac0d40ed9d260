"""Turn a planned quantity into a concrete order: type, quantity, limit price (or quote amount
for a MARKET buy), from the top of the book and the execution settings. Pure.

- marketable_limit: LIMIT at the best opposite price moved by at most ``slippage_pct``
  (BUY: ask*(1+s) rounded down; SELL: bid*(1-s) rounded up; both stay inside the cap).
- ioc: the same price as IMMEDIATE_OR_CANCEL (the unfilled rest dies at once).
- limit_maker: LIMIT_MAKER at our own side's best price (BUY at the bid, SELL at the ask).
- market: SELL by quantity; BUY by quoteOrderQty = qty*ask. Falls back to marketable_limit
  when the symbol does not allow MARKET orders.
A BUY is re-clamped so that quantity*price*(1+taker_fee) fits in the spendable quote at the
actual limit price; the result must still meet the minimums, else None.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from daemon.domain.models import BookTop, ExchangeRules, Side
from daemon.domain.money import floor_to, quantum

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class PricedOrder:
    order_type: str  # LIMIT | IMMEDIATE_OR_CANCEL | LIMIT_MAKER | MARKET
    qty: Decimal  # base quantity (for a MARKET buy: an upper bound of what it can fill)
    price: Decimal | None  # limit price; the reference ask for a MARKET buy; None for MARKET sell
    quote_order_qty: Decimal | None = None  # MARKET buy only
    fell_back: bool = False  # market requested but not allowed for the symbol


def _limit_price(side: Side, top: BookTop, slippage_pct: Decimal, decimals: int) -> Decimal:
    s = slippage_pct / HUNDRED
    if side is Side.BUY:
        return (top.ask_price * (1 + s)).quantize(quantum(decimals), rounding=ROUND_DOWN)
    return (top.bid_price * (1 - s)).quantize(quantum(decimals), rounding=ROUND_UP)


def price_order(
    side: Side,
    qty: Decimal,
    top: BookTop,
    rules: ExchangeRules,
    *,
    order_type: str,
    slippage_pct: Decimal,
    spendable_quote: Decimal,
    min_notional: Decimal,
) -> PricedOrder | None:
    """``min_notional`` is the effective minimum (max of config and exchange)."""
    fell_back = False
    if order_type == "market" and "MARKET" not in rules.order_types:
        order_type, fell_back = "marketable_limit", True
    if top.ask_price <= 0 or top.bid_price <= 0:
        return None
    if order_type == "market":
        return _market(side, qty, top, rules, spendable_quote, min_notional)
    if order_type == "limit_maker":
        price = top.bid_price if side is Side.BUY else top.ask_price
        price = floor_to(price, rules.quote_precision)
        venue_type = "LIMIT_MAKER"
    else:
        price = _limit_price(side, top, slippage_pct, rules.quote_precision)
        venue_type = "IMMEDIATE_OR_CANCEL" if order_type == "ioc" else "LIMIT"
    if side is Side.BUY:
        fee = rules.maker_fee if venue_type == "LIMIT_MAKER" else rules.taker_fee
        affordable = floor_to(spendable_quote / (price * (1 + fee)), rules.base_precision)
        qty = min(qty, affordable)
    qty = floor_to(qty, rules.base_precision)
    if qty < rules.min_qty or qty <= 0 or qty * price < min_notional:
        return None
    return PricedOrder(venue_type, qty, price, None, fell_back)


def _market(side: Side, qty: Decimal, top: BookTop, rules: ExchangeRules,
            spendable_quote: Decimal, min_notional: Decimal) -> PricedOrder | None:
    market_min = max(min_notional, rules.min_notional_market or Decimal(0))
    if side is Side.SELL:
        qty = floor_to(qty, rules.base_precision)
        if qty < rules.min_qty or qty * top.bid_price < market_min:
            return None
        return PricedOrder("MARKET", qty, None)
    budget = spendable_quote / (1 + rules.taker_fee)
    quote_qty = floor_to(min(qty * top.ask_price, budget), rules.quote_precision)
    if quote_qty < market_min:
        return None
    # Every fill is at the ask or above, hence at least the bid: quote/bid bounds the base.
    bound = floor_to(quote_qty / top.bid_price, rules.base_precision)
    return PricedOrder("MARKET", bound, top.ask_price, quote_qty)
