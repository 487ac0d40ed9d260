"""Records read from and written to the Redis state store, and their JSON encoding.

JSON values keep decimals as strings: ``encode_json`` turns Decimal into str and refuses
floats (a float has already lost the exact value). Decoding errors name the key and field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from daemon.domain.books import TradeCounters as TradeCounters  # re-exported for the store
from daemon.domain.cost_basis import Core
from daemon.domain.fields import FieldReader, Leniency
from daemon.domain.orders import Order
from daemon.errors import InputError, StateError

# Typed reads of the records we stored: "<key>: field '<name>' ..." errors (StateError).
RECORDS = FieldReader(StateError, Leniency.STORED, quoted=True)


def _jsonable(value: object, path: str) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InputError(f"{path}: not a finite decimal: {value}")
        return str(value)
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"{path}: keys must be strings, got {k!r}")
            out[k] = _jsonable(v, f"{path}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float):
        raise InputError(f"{path}: float {value!r} not allowed; pass a Decimal or a string")
    raise InputError(f"{path}: cannot store {type(value).__name__} {value!r} as JSON")


def encode_json(value: object, what: str) -> str:
    """Compact JSON of ``value`` (mappings, sequences, str, int, bool, None, Decimal)."""
    if hasattr(value, "items") and not isinstance(value, dict):
        value = dict(value.items())
    return json.dumps(_jsonable(value, what), separators=(",", ":"), sort_keys=True)


def decode_json(raw: object, where: str) -> Any:
    """Parse a stored value; StateError naming ``where`` when it is not JSON."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise StateError(f"{where}: not valid JSON ({exc.msg} at {exc.pos}): {shown!r}") from None


def _no_constant(name: str) -> object:
    raise json.JSONDecodeError(f"{name} is not allowed", name, 0)


def parse_counters(raw: object, key: str) -> TradeCounters:
    """The stored trade counters (``daemon.domain.books.TradeCounters``); StateError naming
    ``key`` and the field."""
    if raw is None:
        return TradeCounters()
    r = RECORDS.fields(decode_json(raw, key), key)
    counters = TradeCounters(day=r.text("day"), trades_today=r.integer("trades_today"),
                             last_trade_ms=r.opt_integer("last_trade_ms"),
                             trades_total=r.integer("trades_total"))
    if counters.trades_today < 0 or counters.trades_total < counters.trades_today:
        raise StateError(f"{key}: field 'trades_today' {counters.trades_today} is negative"
                         f" or above 'trades_total' {counters.trades_total}")
    return counters


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str
    time_ms: int


def parse_halt(raw: object, key: str) -> Halt | None:
    if raw is None:
        return None
    r = RECORDS.fields(decode_json(raw, key), key)
    return Halt(reason=r.text("reason"), time_ms=r.integer("time_ms"))


def parse_heartbeat(raw: object, key: str) -> dict[str, Any] | None:
    """The lease holder's last checkpoint, as the status commands read it (None: expired or
    never written); StateError unless a JSON object with an integer ``time_ms``."""
    if raw is None:
        return None
    try:  # plain JSON numbers (floats), as the status report prints them
        beat = orjson.loads(raw if isinstance(raw, bytes | str) else str(raw))
    except orjson.JSONDecodeError:
        raise StateError(f"{key}: not valid JSON") from None
    if not isinstance(beat, dict) or not isinstance(beat.get("time_ms"), int):
        raise StateError(f"{key}: expected a JSON object with an integer time_ms")
    return beat


def parse_core(raw: object, key: str) -> Core:
    """The core floor and its credit; a record without ``credit`` (schema 1, written before
    STRATEGY.md v2) has credit 0."""
    if raw is None:
        return Core(None)
    r = RECORDS.fields(decode_json(raw, key), key)
    credit = r.opt_decimal("credit", minimum=Decimal(0))
    return Core(r.decimal("qty", minimum=Decimal(0)), credit or Decimal(0))


def parse_core_floor(raw: object, key: str) -> Decimal | None:
    return parse_core(raw, key).floor


def core_record(floor: Decimal, credit: Decimal, updated_ms: int, source: str) -> dict[str, Any]:
    """The ``core_floor`` value: the floor and its credit, always written together."""
    return {"qty": str(floor), "credit": str(credit), "updated_ms": updated_ms,
            "source": source}


@dataclass(frozen=True, slots=True)
class BooksView:
    """What a writer last read or wrote of the books: the epoch (one life of the books: a new
    one after a rebuild), the books version (moved on by every fenced write) and the digest of
    cost_basis, core_floor and counters. A fenced write is accepted only from this view."""

    epoch: str
    version: int
    digest: str

    def describe(self) -> str:
        return f"epoch {self.epoch}, books version {self.version}"


def books_lost_message(prefix: str) -> str:
    return (f"{prefix}schema is gone: Redis lost the books (restarted without persistence?); "
            "rebuild them from the exchange with `rebalancer state rebuild -c CONFIG`")


def books_gone(prefix: str, before: BooksView, schema: str | None, epoch: str | None,
               version: int | None) -> str | None:
    """Why the books Redis holds now (schema, epoch, version) cannot be the ones ``before``
    was read from or written to: None when they can (same epoch, version not lower)."""
    if schema is None:
        return books_lost_message(prefix)
    if epoch != before.epoch:
        return (f"{prefix}epoch is {'gone' if epoch is None else epoch}, the books were "
                f"{before.epoch}: Redis lost or replaced the books")
    if (version or 0) < before.version:
        return (f"{prefix}books went back from version {before.version} to {version or 0}: "
                f"Redis rolled back (a stale snapshot?)")
    return None


def books_digest(cost_basis: bytes | None, core_floor: bytes | None,
                 counters: bytes | None) -> str:
    """SHA-1 of the three values as Redis holds them (the fence's Lua computes the same)."""
    return hashlib.sha1(b"\n".join(v or b"" for v in (cost_basis, core_floor, counters)),
                        usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredState:
    """What load_state read. ``orders`` holds the open ones and the recent closed/LOST ones
    (the trade ids of their fills are booked: an order is stored with its fills only by the
    script that books them)."""

    schema_version: int
    view: BooksView
    cost_basis: dict[str, Any] | None
    core_floor: Decimal | None
    counters: TradeCounters
    balances: dict[str, Any] | None
    last_plan: dict[str, Any] | None
    halt: Halt | None
    orders: dict[str, Order] = field(default_factory=dict)
    open_order_ids: frozenset[str] = frozenset()
    core_credit: Decimal = Decimal(0)  # base sold and not bought back (STRATEGY.md v2)

    @property
    def open_orders(self) -> list[Order]:
        return sorted((self.orders[c] for c in self.open_order_ids if self.orders[c].is_open),
                      key=lambda o: (o.created_ms, o.client_order_id))

    @property
    def lost_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.value == "LOST"]


# -- reading what the store's scripts return --------------------------------------------------
def as_text(raw: object) -> str | None:
    if raw is None:
        return None
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def hash_pairs(flat: Sequence[Any]) -> dict[str, Any]:
    """A Lua HGETALL reply (field, value, field, value...) as a dict of text fields."""
    return {as_text(flat[i]) or "": flat[i + 1] for i in range(0, len(flat), 2)}


def json_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StateError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def opt_json_object(raw: object, where: str) -> dict[str, Any] | None:
    return None if raw is None else json_object(decode_json(raw, where), where)


def parse_view(prefix: str, v: Mapping[str, Any]) -> BooksView:
    """The view of the books from the raw ``epoch``, ``books`` and the three digested values."""
    epoch = as_text(v["epoch"])
    if not epoch:
        raise StateError(f"{prefix}epoch: missing (run check_schema first)")
    version = as_text(v["books"]) or "0"
    if not version.isdigit():
        raise StateError(f"{prefix}books: not a version number: {version!r}")
    return BooksView(epoch, int(version),
                     books_digest(v["cost_basis"], v["core_floor"], v["counters"]))
