"""Decimal helpers: flooring to a precision grid and formatting without exponents (reading
numbers is ``daemon.domain.fields``). Pure: no I/O, no clock."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

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


def shown(value: Decimal | None, decimals: int) -> str:
    """``value`` for a person to read: rounded DOWN to ``decimals`` places (a symbol's
    quote_precision for prices and averages), trailing zeros dropped; 'n/a' for None."""
    return "n/a" if value is None else fmt(floor_to(value, decimals))
