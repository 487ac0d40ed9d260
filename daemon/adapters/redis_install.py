"""Installing a whole set of books into an EMPTY key prefix, atomically (``rebalancer state
rebuild``): one Lua script checks that no key of the books exists and writes them all, or
writes nothing.

"Empty" means: no ``P schema`` and no key of the books. ``P lease``, ``P heartbeat``,
``P halted``, ``P last_plan`` and ``P plan_history`` may exist (a daemon waiting for its books
or refusing to start, an operator's halt, the plans it logged) and are left alone; any other
key under the prefix is refused, named, and nothing is written.

Written together: ``P schema``, ``P epoch`` (a new random hex token: one life of the
books), ``P books`` (the books version), and when given the cost basis, core floor, counters,
the orders (hash, ``orders:open`` set, ``orders:closed`` zset scored by update time) and the
fills (the per-month archive hashes, redis_archive). The values are encoded by the
store's own codec.
own codec.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from daemon.adapters.redis_archive import FILLS, MONTHS, month_of
from daemon.adapters.redis_codec import fill_to_dict, order_to_dict
from daemon.adapters.redis_records import TradeCounters, core_record, encode_json
from daemon.adapters.redis_schema import NOT_BOOKS, SCHEMA_VERSION
from daemon.adapters.redis_store import RedisStore
from daemon.domain.models import Fill
from daemon.domain.orders import Order
from daemon.errors import StateError

LEFT_ALONE = NOT_BOOKS
WRITTEN = ("schema", "epoch", "books", "cost_basis", "core_floor", "counters", "orders",
           "orders:open", "orders:closed", MONTHS)
CHECKED = ("balances",)  # must be absent too, never written

# KEYS: WRITTEN then CHECKED, then the fills' month hashes. ARGV: schema, epoch, books,
# cost_basis, core_floor, counters ('' = not written), n_open, n_closed, n_fills, then n_open
# pairs (coid, body), n_closed triples (coid, body, score), n_fills quadruples (trade_id, body,
# index of its month hash in KEYS, month).
INSTALL = """
local found = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then table.insert(found, KEYS[i]) end
end
if #found > 0 then
  return redis.error_reply('STATE the prefix already holds ' .. table.concat(found, ', ') ..
    '; nothing written')
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
for i = 4, 6 do
  if ARGV[i] ~= '' then redis.call('SET', KEYS[i], ARGV[i]) end
end
local n_open, n_closed, n_fills = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local a = 10
for _ = 1, n_open do
  redis.call('HSET', KEYS[7], ARGV[a], ARGV[a + 1])
  redis.call('SADD', KEYS[8], ARGV[a])
  a = a + 2
end
for _ = 1, n_closed do
  redis.call('HSET', KEYS[7], ARGV[a], ARGV[a + 1])
  redis.call('ZADD', KEYS[9], ARGV[a + 2], ARGV[a])
  a = a + 3
end
for _ = 1, n_fills do
  redis.call('HSET', KEYS[tonumber(ARGV[a + 2])], ARGV[a], ARGV[a + 1])
  redis.call('SADD', KEYS[10], ARGV[a + 3])
  a = a + 4
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Books:
    """What to install. ``books_version``: 1, for rebuilt books and a deliberate fresh start
    alike (a running daemon whose books were lost adopts a new epoch only from books an
    operator installed, never the version 0 of a prefix created empty). ``core_floor_ms``:
    the time stamped on the core floor record."""

    books_version: int
    cost_basis: Mapping[str, Any] | None = None
    core_floor: Decimal | None = None
    core_credit: Decimal = Decimal(0)
    core_floor_ms: int = 0
    counters: TradeCounters | None = None
    open_orders: Sequence[Order] = ()
    closed_orders: Sequence[Order] = ()
    fills: Sequence[Fill] = ()
    epoch: str = field(default_factory=lambda: secrets.token_hex(8))


async def foreign_keys(store: RedisStore) -> list[str]:
    """Keys under the prefix other than those left alone: any of them means the prefix is not
    empty (its books must not be overwritten)."""
    alone = {store.key(n) for n in LEFT_ALONE}
    found: list[str] = []
    async for k in store.client.scan_iter(match=_glob_escape(store.prefix) + "*", count=500):
        name = k.decode() if isinstance(k, bytes) else str(k)
        if name not in alone:
            found.append(name)
    return sorted(found)


async def require_empty(store: RedisStore) -> None:
    """StateError naming the keys found when the prefix holds anything but the keys left
    alone."""
    found = await store.call("SCAN", foreign_keys(store))
    if found:
        shown = ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
        raise StateError(f"{store.prefix!r} is not empty: {shown}. The books there are not "
                         "overwritten; to rebuild, first remove them (or use another "
                         "redis.key_prefix)")


async def install_books(store: RedisStore, books: Books) -> None:
    """Write ``books`` into the empty prefix in ONE script; StateError naming the keys found
    (nothing written) when the prefix is not empty."""
    await require_empty(store)
    floor = "" if books.core_floor is None else encode_json(
        core_record(books.core_floor, books.core_credit, books.core_floor_ms, "rebuild"),
        "core_floor")
    args: list[str | int] = [
        str(SCHEMA_VERSION), books.epoch, str(books.books_version),
        "" if books.cost_basis is None else encode_json(books.cost_basis, "cost_basis"), floor,
        "" if books.counters is None else encode_json(books.counters.to_dict(), "counters"),
        len(books.open_orders), len(books.closed_orders), len(books.fills)]
    for o in books.open_orders:
        args += [o.client_order_id, encode_json(order_to_dict(o), "order")]
    for o in books.closed_orders:
        args += [o.client_order_id, encode_json(order_to_dict(o), "order"), o.updated_ms]
    keys = [store.key(n) for n in (*WRITTEN, *CHECKED)]
    for f in books.fills:
        month = month_of(f.time_ms)
        hk = store.key(FILLS + month)
        if hk not in keys:
            keys.append(hk)
        args += [f.trade_id, encode_json(fill_to_dict(f), "fill"), keys.index(hk) + 1, month]
    script = store.client.register_script(INSTALL)
    await store.call("install books", script(keys=keys, args=args))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
