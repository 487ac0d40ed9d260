"""The one typed field reader: decimals, integers, strings, flags and enum members out of decoded
data (JSON objects, REST payloads, protobuf fields, command-line arguments), every error naming
the field. Pure: no I/O.

A :class:`FieldReader` is made once per kind of source and says
- which exception a bad field raises: ProtocolError for venue payloads, StateError for stored
  state, InputError for a document the user gives, ValueError for plain arguments;
- how lenient it is (:class:`Leniency`): what MEXC sends (numbers as strings or numbers,
  integral floats, "" for null), a document a user writes, or what the store wrote itself
  (decimals only as strings: a JSON number has already lost the exact value);
- how a field is named: ``<path>: <problem>`` (``snapshot.rules.min_qty: missing``) or, with
  ``quoted``, ``<where>: field '<name>' <problem>`` (``bot:X:orders[o]: field 'qty' is
  missing``, the Redis records' form).

Values are read with ``reader.decimal(raw, name)`` and friends; ``reader.fields(data, where)``
gives a :class:`Fields` view that reads the keys of one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, NoReturn, TypeVar

from daemon.domain.money import fmt

E = TypeVar("E", bound=StrEnum)
# no price, quantity or fee a user writes is 1e30 or 1e-30; beyond, arithmetic overflows the
# decimal context and writing the number out plainly takes as many characters as its exponent
# (venue payloads have their own bounds, stored values are ours)
MAX_EXPONENT = 30


class Leniency(Enum):
    WIRE = "wire"  # MEXC: integers also as "123" or 5.0, "" is null, ids may be numbers
    DOCUMENT = "document"  # JSON a user writes: numbers or strings for decimals, ints as ints
    STORED = "stored"  # what we wrote: decimals as strings, ints as ints, no coercion


def _kind(raw: object) -> str:
    return "null" if raw is None else type(raw).__name__


def _or_list(members: Collection[str]) -> str:
    items = list(members)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


@dataclass(frozen=True, slots=True)
class FieldReader:
    error: Callable[[str], Exception]
    leniency: Leniency = Leniency.DOCUMENT
    quoted: bool = False

    # --- naming ---------------------------------------------------------------------------
    def name(self, where: str, key: str) -> str:
        """How field ``key`` of the object at ``where`` is named in errors."""
        return f"{where}: field {key!r}" if self.quoted else f"{where}.{key}"

    def fail(self, name: str, problem: str, quoted_problem: str | None = None) -> NoReturn:
        """Raise the reader's error: ``<name>: <problem>``, or ``<name> <quoted_problem>``."""
        if self.quoted:
            raise self.error(f"{name} {quoted_problem or problem}")
        raise self.error(f"{name}: {problem}")

    def _null(self, raw: object) -> bool:
        return raw is None or (raw == "" and self.leniency is Leniency.WIRE)

    # --- values ---------------------------------------------------------------------------
    def decimal(self, raw: object, name: str, *, default: Decimal | None = None,
                minimum: Decimal | None = None, maximum: Decimal | None = None,
                positive: bool = False) -> Decimal:
        """A finite decimal within the bounds; null gives ``default`` (an error without)."""
        if self._null(raw):
            if default is not None:
                return default
            self.fail(name, f"expected a decimal, got {raw!r}", "is null")
        value = self._decimal(raw, name)
        if positive and value <= 0:
            self.fail(name, f"must be positive, got {fmt(value)}")
        if minimum is not None and value < minimum:
            self.fail(name, f"must be >= {fmt(minimum)}, got {fmt(value)}")
        if maximum is not None and value > maximum:
            self.fail(name, f"must be <= {fmt(maximum)}, got {fmt(value)}")
        return value

    def opt_decimal(self, raw: object, name: str, *, minimum: Decimal | None = None,
                    maximum: Decimal | None = None, positive: bool = False) -> Decimal | None:
        """Like :meth:`decimal`, but null gives None."""
        if self._null(raw):
            return None
        return self.decimal(raw, name, minimum=minimum, maximum=maximum, positive=positive)

    def _decimal(self, raw: object, name: str) -> Decimal:
        if isinstance(raw, str):
            try:
                value = Decimal(raw)
            except ArithmeticError:
                self.fail(name, f"not a decimal number: {raw!r}", f"is not a decimal: {raw!r}")
        elif self.leniency is Leniency.STORED:
            self.fail(name, f"expected a decimal string, got {raw!r}",
                      f"must be a string, got {raw!r}")
        elif isinstance(raw, bool):
            self.fail(name, f"expected a decimal, got boolean {raw!r}")
        elif isinstance(raw, Decimal):
            value = raw
        elif isinstance(raw, int):
            value = Decimal(raw)
        elif isinstance(raw, float):
            value = Decimal(repr(raw))  # the shortest repr, never the binary value
        else:
            self.fail(name, f"expected a decimal, got {_kind(raw)} {raw!r}")
        if not value.is_finite():
            self.fail(name, f"not a finite number: {raw!r}", f"is not finite: {raw!r}")
        if (self.leniency is Leniency.DOCUMENT and value
                and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT):
            self.fail(name, f"out of range: {raw!r:.40}", f"is out of range: {raw!r:.40}")
        return value

    def integer(self, raw: object, name: str, *, default: int | None = None,
                minimum: int | None = None, maximum: int | None = None) -> int:
        """An integer within the bounds; null gives ``default`` (an error without)."""
        if self._null(raw):
            if default is not None:
                return default
            self.fail(name, f"expected an integer, got {_kind(raw)}", "is null")
        value = self._integer(raw)
        if value is None:
            self.fail(name, f"expected an integer, got {_kind(raw)} {raw!r}",
                      f"must be an integer, got {raw!r}")
        low = minimum is not None and value < minimum
        if low or (maximum is not None and value > maximum):
            if minimum is not None and maximum is not None:
                self.fail(name, f"must be between {minimum} and {maximum}, got {value}")
            self.fail(name, f"must be {'>=' if low else '<='} {minimum if low else maximum}, "
                            f"got {value}")
        return value

    def opt_integer(self, raw: object, name: str, *, minimum: int | None = None,
                    maximum: int | None = None) -> int | None:
        """Like :meth:`integer`, but null gives None."""
        if self._null(raw):
            return None
        return self.integer(raw, name, minimum=minimum, maximum=maximum)

    def _integer(self, raw: object) -> int | None:
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            return raw
        if self.leniency is Leniency.STORED:
            return None
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
            return int(raw)
        if isinstance(raw, str) and self.leniency is Leniency.WIRE:
            try:
                return int(raw.strip())
            except ValueError:
                return None
        return None

    def text(self, raw: object, name: str) -> str:
        """A string (on the wire also a number, e.g. an id); null is an error."""
        if self._null(raw):
            self.fail(name, "missing", "is null")
        if isinstance(raw, str):
            return raw
        if self.leniency is Leniency.WIRE and isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        self.fail(name, f"expected a string, got {raw!r}", f"must be a string, got {raw!r}")

    def opt_text(self, raw: object, name: str) -> str | None:
        return None if self._null(raw) else self.text(raw, name)

    def flag(self, raw: object, name: str, *, default: bool = False) -> bool:
        """true/false; null gives ``default``."""
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.fail(name, f"expected true or false, got {raw!r}",
                      f"must be true/false, got {raw!r}")
        return raw

    def enum(self, raw: object, name: str, kind: type[E]) -> E:
        """A member of ``kind`` by value."""
        for member in kind:
            if raw == member.value:
                return member
        allowed = [m.value for m in kind]
        self.fail(name, f"expected {_or_list(allowed)}, got {raw!r}",
                  f"is {raw!r}, expected one of {', '.join(allowed)}")

    def mapping(self, raw: object, name: str) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise self.error(f"{name}: expected a JSON object, got {_kind(raw)}")
        return raw

    def fields(self, data: object, where: str, *,
               allowed: Collection[str] | None = None) -> Fields:
        """A view reading the keys of the JSON object ``data`` (an error when it is not one,
        or, with ``allowed``, when it has another key)."""
        return Fields(self, self.mapping(data, where), where, allowed)


_MISSING: Any = object()


class Fields:
    """Reads the keys of one JSON object with a :class:`FieldReader`; a missing key is an
    error unless the read is optional (``opt_*``, ``flag``) or has a default."""

    __slots__ = ("data", "reader", "where")

    def __init__(self, reader: FieldReader, data: Mapping[str, Any], where: str,
                 allowed: Collection[str] | None = None) -> None:
        self.reader = reader
        self.data = data
        self.where = where
        if allowed is not None:
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                reader.fail(self.name(unknown[0]), "unknown field", "is unknown")

    def name(self, key: str) -> str:
        return self.reader.name(self.where, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def raw(self, key: str) -> Any:
        """The value of a key that must be present (it may be null)."""
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            self.reader.fail(self.name(key), "missing", "is missing")
        return value

    def decimal(self, key: str, **bounds: Any) -> Decimal:
        return self.reader.decimal(self.raw(key), self.name(key), **bounds)

    def opt_decimal(self, key: str, **bounds: Any) -> Decimal | None:
        return self.reader.opt_decimal(self.data.get(key), self.name(key), **bounds)

    def integer(self, key: str, **bounds: Any) -> int:
        return self.reader.integer(self.raw(key), self.name(key), **bounds)

    def opt_integer(self, key: str, **bounds: Any) -> int | None:
        return self.reader.opt_integer(self.data.get(key), self.name(key), **bounds)

    def text(self, key: str) -> str:
        return self.reader.text(self.raw(key), self.name(key))

    def opt_text(self, key: str) -> str | None:
        return self.reader.opt_text(self.data.get(key), self.name(key))

    def flag(self, key: str, *, default: bool = False) -> bool:
        return self.reader.flag(self.data.get(key), self.name(key), default=default)

    def enum(self, key: str, kind: type[E]) -> E:
        return self.reader.enum(self.raw(key), self.name(key), kind)

    def array(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            self.reader.fail(self.name(key), f"expected a list, got {_kind(value)}",
                             f"must be a list, got {value!r}")
        return value

    def fields(self, key: str, *, allowed: Collection[str] | None = None) -> Fields:
        """The nested JSON object under ``key``."""
        return self.reader.fields(self.raw(key), self.name(key), allowed=allowed)


# The readers of the domain's own sources (the adapters define theirs next to their formats).
ARGUMENTS = FieldReader(ValueError)  # plain arguments: ValueError naming the argument
