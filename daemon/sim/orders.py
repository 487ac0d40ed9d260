"""Validation of order parameters into an OrderRequest, with MEXC's error codes and texts.
Pure: no I/O, no clock."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from daemon.domain.money import fmt
from daemon.sim.engine import ORDER_TYPES, OrderRequest, SimError, SymbolSpec


def missing(name: str) -> SimError:
    return SimError(44444, f"param cannot be null: {name}")


def invalid(name: str, value: str, why: str) -> SimError:
    return SimError(400, f"param {name} is invalid: {value!r} ({why})")


def parse_number(params: dict[str, str], name: str, decimals: int,
                 scale_msg: str) -> Decimal | None:
    """A decimal parameter: None if absent; 400 if malformed, too fine or not positive."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise invalid(name, raw, "not a decimal number") from None
    if not value.is_finite():
        raise invalid(name, raw, "not a finite number")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise SimError(400, scale_msg)  # MEXC's text, leading space included
    if value <= 0:
        raise SimError(400, "price and quantity must be positive")
    return value


def parse_int(params: dict[str, str], name: str, default: int | None, *, lo: int = 0,
              hi: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, raw, "not an integer") from None
    if value < lo or (hi is not None and value > hi):
        raise invalid(name, raw, f"must be within {lo}..{hi if hi is not None else 'inf'}")
    return value


def check_client_id(raw: str | None, name: str) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 64:
        raise invalid(name, raw, "longer than 64 characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise SimError(700008, f"Illegal characters found in parameter '{name}'")
    return raw


def parse_order(params: dict[str, str], specs: dict[str, SymbolSpec],
                mid: Decimal | None) -> OrderRequest:
    """Validate POST /api/v3/order (and /order/test). ``mid`` is the current market price of
    the symbol (for the minimum value of a MARKET order sized by quantity)."""
    symbol = params.get("symbol")
    if not symbol:
        raise missing("symbol")
    spec = specs.get(symbol)
    if spec is None:
        raise SimError(-1121, "Invalid symbol.")
    if not spec.spot_trading_allowed:
        raise SimError(10007, "symbol not support api")
    if spec.status != "1":
        raise SimError(30000, "suspended transaction for the symbol")
    side = params.get("side") or ""
    if not side:
        raise missing("side")
    if side not in ("BUY", "SELL"):
        raise invalid("side", side, "BUY or SELL")
    otype = params.get("type") or ""
    if not otype:
        raise missing("type")
    if otype not in ORDER_TYPES:
        raise invalid("type", otype, "one of " + ", ".join(ORDER_TYPES))
    qty = parse_number(params, "quantity", spec.base_precision, " quantity scale is invalid")
    quote = parse_number(params, "quoteOrderQty", spec.quote_precision,
                         " amount scale is invalid")
    price = parse_number(params, "price", spec.quote_precision, " price scale is invalid")
    if otype == "MARKET":
        price = None  # ignored, as MEXC does when a client sends it along
        if qty is None and quote is None:
            raise missing("quantity or quoteOrderQty")
        if qty is not None and quote is not None:
            raise SimError(400, "param quantity and quoteOrderQty cannot both be sent "
                                "for a MARKET order")
    else:
        if qty is None:
            raise missing("quantity")
        if price is None:
            raise missing("price")
        quote = None
    _check_minimums(spec, qty, quote, price if price is not None else mid,
                    market=otype == "MARKET")
    _check_price_band(side, price, mid)
    client_id = check_client_id(params.get("newClientOrderId"), "newClientOrderId")
    return OrderRequest(symbol, side, otype, qty, quote, price, client_id)


MAX_QUOTE = Decimal(2_000_000)  # exchangeInfo maxQuoteAmount (limit orders)
MAX_QUOTE_MARKET = Decimal(100_000)  # maxQuoteAmountMarket
BID_MULTIPLIER_UP = Decimal(5)  # PERCENT_PRICE_BY_SIDE filter
ASK_MULTIPLIER_DOWN = Decimal("0.2")


def _check_price_band(side: str, price: Decimal | None, mid: Decimal | None) -> None:
    """PERCENT_PRICE_BY_SIDE: a BUY at most 5x, a SELL at least 0.2x the last price (the
    error code for a violation is UNSURE; 30087 is what ccxt knows for this text)."""
    if price is None or mid is None:
        return
    if (side == "BUY" and price > mid * BID_MULTIPLIER_UP) or (
            side == "SELL" and price < mid * ASK_MULTIPLIER_DOWN):
        raise SimError(30087, "Order price exceeds allowed range")


def _check_minimums(spec: SymbolSpec, qty: Decimal | None, quote: Decimal | None,
                    price: Decimal | None, *, market: bool) -> None:
    if qty is not None and qty < spec.min_qty:
        raise SimError(30002, "The minimum transaction volume cannot be less than:"
                              f"{fmt(spec.min_qty)}{spec.base_asset}")
    value = quote if quote is not None else (
        qty * price if qty is not None and price is not None else None)
    if value is not None and value < spec.min_notional:
        raise SimError(30002, "The minimum transaction volume cannot be less than:"
                              f"{fmt(spec.min_notional)}{spec.quote_asset}")
    cap = MAX_QUOTE_MARKET if market else MAX_QUOTE
    if value is not None and value > cap:
        raise SimError(30003, "The maximum transaction volume cannot be greater than:"
                              f"{fmt(cap)}{spec.quote_asset}")
