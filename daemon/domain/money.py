"""Decimal helpers: lenient parsing of exchange numbers, flooring to a precision grid, and
formatting without exponents. Pure: no I/O, no clock."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)

_QUANTUM_CACHE: dict[int, Decimal] = {}


def quantum(decimals: int) -> Decimal:
    """The grid step for ``decimals`` places: 2 -> Decimal('0.01'), 0 -> Decimal('1')."""
    q = _QUANTUM_CACHE.get(decimals)
    if q is None:
        if decimals < 0:
            raise ValueError(f"precision must be >= 0, got {decimals}")
        q = Decimal(1).scaleb(-decimals)
        _QUANTUM_CACHE[decimals] = q
    return q


def floor_to(value: Decimal, decimals: int) -> Decimal:
    """Round DOWN (toward zero) to ``decimals`` places."""
    return value.quantize(quantum(decimals), rounding=ROUND_DOWN)


def on_grid(value: Decimal, decimals: int) -> bool:
    """True when ``value`` has no more than ``decimals`` significant decimal places."""
    return value == floor_to(value, decimals)


def fmt(value: Decimal) -> str:
    """Plain string without exponent or trailing zeros: Decimal('1E+2') -> '100',
    Decimal('2.5000') -> '2.5'. The form MEXC accepts for quantities and prices."""
    if not value.is_finite():
        raise ValueError(f"cannot format non-finite decimal {value}")
    if value == 0:
        return "0"
    # format(..., "f") is exact (normalize() would round to the context precision).
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_decimal(raw: object, *, field: str = "value", allow_none: bool = False) -> Decimal:
    """Parse a number as MEXC sends it: a string (also '3.99E8'), an int, a float (through its
    repr, never its binary value), or null when ``allow_none`` (returns 0).

    Raises ValueError naming ``field`` for anything else, NaN or infinity."""
    if raw is None or raw == "":
        if allow_none:
            return ZERO
        raise ValueError(f"{field}: expected a decimal, got {raw!r}")
    if isinstance(raw, bool):
        raise ValueError(f"{field}: expected a decimal, got boolean {raw!r}")
    if isinstance(raw, Decimal):
        result = raw
    elif isinstance(raw, int):
        result = Decimal(raw)
    elif isinstance(raw, float):
        result = Decimal(repr(raw))
    elif isinstance(raw, str):
        try:
            result = Decimal(raw.strip())
        except InvalidOperation:
            raise ValueError(f"{field}: not a decimal number: {raw!r}") from None
    else:
        raise ValueError(f"{field}: expected a decimal, got {type(raw).__name__} {raw!r}")
    if not result.is_finite():
        raise ValueError(f"{field}: not a finite number: {raw!r}")
    return result


def parse_optional_decimal(raw: object, *, field: str = "value") -> Decimal | None:
    """Like parse_decimal but None/'' give None."""
    if raw is None or raw == "":
        return None
    return parse_decimal(raw, field=field)
