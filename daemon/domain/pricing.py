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

The book top comes from one REST answer, so it is never trusted alone: :func:`check_book_top`
and :func:`check_order_price` hold it against prices from an independent source, the kline
stream's last price and the moving averages of closed candles (:class:`PriceReference`).
In order, the first that applies refuses the order:

``no_price``           a bid, ask or order price <= 0 (or not finite); bid >= ask (a crossed
                       book gives no usable price); no reference price
``price_out_of_band``  a bid, ask or order price more than ``max_price_deviation_pct`` away from
                       a known reference (``|p - ref| / ref * 100``, the risk limit's measure;
                       exactly the limit passes)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from daemon.domain.models import BookTop, ExchangeRules, Side
from daemon.domain.money import floor_to, fmt, quantum
from daemon.domain.reasons import ReasonCode
from daemon.domain.risk import deviation_pct

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


def order_for(
    side: Side, qty: Decimal, top: BookTop, reference: PriceReference, rules: ExchangeRules, *,
    order_type: str, slippage_pct: Decimal, spendable_quote: Decimal, min_notional: Decimal,
    max_deviation_pct: Decimal, source: str, check_top: bool = True,
) -> PricedOrder | PriceRefusal | None:
    """The executor's rule from a planned quantity to the order sent: the book top checked
    against ``reference`` (unless ``check_top`` is False: a book known to be the reference
    itself), the order priced (:func:`price_order`; None: below the minimums at this book), its
    price checked. A :class:`PriceRefusal` says why nothing is sent."""
    if check_top:
        refusal = check_book_top(top, reference, max_deviation_pct, source)
        if refusal is not None:
            return refusal
    priced = price_order(side, qty, top, rules, order_type=order_type,
                         slippage_pct=slippage_pct, spendable_quote=spendable_quote,
                         min_notional=min_notional)
    if priced is None:
        return None
    return check_order_price(priced.price, reference, max_deviation_pct,
                             f"order price (from {source})") or priced


# --- the book against independent prices --------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceReference:
    """Prices that do not come from the book: the kline stream's last price and the moving
    averages of closed candles (None, or <= 0: unknown, not used)."""

    last_price: Decimal | None
    ma_short: Decimal | None = None
    ma_long: Decimal | None = None

    def known(self) -> tuple[tuple[str, Decimal], ...]:
        named = (("kline last price", self.last_price), ("ma_short", self.ma_short),
                 ("ma_long", self.ma_long))
        return tuple((name, value) for name, value in named
                     if value is not None and value.is_finite() and value > 0)


@dataclass(frozen=True, slots=True)
class PriceRefusal:
    """Why an order is not sent: a reason code and a text naming the source and the value."""

    code: ReasonCode
    reason: str


def check_book_top(top: BookTop, reference: PriceReference, max_deviation_pct: Decimal,
                   source: str) -> PriceRefusal | None:
    """None when the book top ``source`` gave is sane: both prices positive, bid < ask, both
    within ``max_deviation_pct`` of every known reference price."""
    sides = (("bid", top.bid_price), ("ask", top.ask_price))
    for name, value in sides:
        bad = _not_a_price(f"{source} {name}", value)
        if bad is not None:
            return bad
    if top.bid_price >= top.ask_price:
        return PriceRefusal(ReasonCode.NO_PRICE,
                            f"{source}: bid {fmt(top.bid_price)} >= ask {fmt(top.ask_price)}, "
                            "a crossed book")
    for name, value in sides:
        out = _out_of_band(f"{source} {name}", value, reference, max_deviation_pct)
        if out is not None:
            return out
    return None


def check_order_price(price: Decimal | None, reference: PriceReference,
                      max_deviation_pct: Decimal, what: str) -> PriceRefusal | None:
    """None when the order's own price (``what`` names it) is positive and within
    ``max_deviation_pct`` of every known reference price. A MARKET sell has no price (None):
    the book top it executes against is what :func:`check_book_top` checked."""
    if price is None:
        return None
    return _not_a_price(what, price) or _out_of_band(what, price, reference, max_deviation_pct)


def _not_a_price(what: str, value: Decimal) -> PriceRefusal | None:
    if value.is_finite() and value > 0:
        return None
    shown = fmt(value) if value.is_finite() else str(value)
    return PriceRefusal(ReasonCode.NO_PRICE, f"{what} {shown} is not a price (<= 0)")


def _out_of_band(what: str, value: Decimal, reference: PriceReference,
                 max_deviation_pct: Decimal) -> PriceRefusal | None:
    known = reference.known()
    if not known:
        return PriceRefusal(ReasonCode.NO_PRICE,
                            f"{what} {fmt(value)}: no independent price (kline last price, "
                            "moving averages) to check it against")
    for name, ref in known:
        dev = deviation_pct(value, ref)
        if dev > max_deviation_pct:
            return PriceRefusal(
                ReasonCode.PRICE_OUT_OF_BAND,
                f"{what} {fmt(value)} is {dev:.2f}% away from the {name} {fmt(ref)}, more "
                f"than max_price_deviation_pct {fmt(max_deviation_pct)}%")
    return None
