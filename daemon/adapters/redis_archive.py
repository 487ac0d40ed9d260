"""The history of the books outside the hot keys: every booked fill and every order that aged
out of the recent ones, in per-month hashes (schema 3).

Keys (``P`` = the key prefix)::

    P archive:months          set of "YYYY-MM": the months that have an archive key
    P archive:fills:YYYY-MM   hash trade_id -> Fill JSON, the month of the fill's trade time
                              (UTC); every booked fill, written by the booking script itself
    P archive:orders:YYYY-MM  hash client_order_id -> Order JSON, orders that aged out of
                              ``P orders`` (the recent ones) in that month

A booking never reads more than the hashes of the fill's own month and, within a day of a
month's edge, the neighbouring one (``dedup_months``): the dedup of fills costs the same at
the ten-thousandth fill as at the first, and no value holds the whole history. The readers here
(``history``, ``pnl``, ``status``, the daily summary) read only the months they need.

Schema 2 kept every fill in one hash ``P fills``: ``migrate_fills`` moves it here in batches,
each batch atomic and compare-and-move, so a migration stopped half-way resumes and a fill is
never in neither place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from daemon.adapters.redis_codec import fill_from_dict, order_from_dict
from daemon.adapters.redis_records import as_text, decode_json
from daemon.domain.models import Fill
from daemon.domain.orders import Order
from daemon.errors import StateError

if TYPE_CHECKING:
    from daemon.adapters.redis_store import RedisStore

MONTHS = "archive:months"
FILLS = "archive:fills:"
ORDERS = "archive:orders:"
OLD_FILLS = "fills"  # schema 2's one hash of every fill
EDGE_MS = 86_400_000  # a fill this close to a month's edge is looked for in both months
BATCH = 500
_MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
ARCHIVE_KEY_RE = re.compile(r"archive:(fills|orders):\d{4}-(0[1-9]|1[0-2])")

# KEYS: old fills hash, months set, then the month keys.  ARGV: n, then n quadruples
# (trade_id, body as read, index of its month key in KEYS, month).  A field is moved only when
# it still holds the body read (compare-and-move); returns how many moved.
MIGRATE_FILLS = """
local moved = 0
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local tid, body = ARGV[2 + 4 * i], ARGV[3 + 4 * i]
  if redis.call('HGET', KEYS[1], tid) == body then
    redis.call('HSET', KEYS[tonumber(ARGV[4 + 4 * i])], tid, body)
    redis.call('SADD', KEYS[2], ARGV[5 + 4 * i])
    redis.call('HDEL', KEYS[1], tid)
    moved = moved + 1
  end
end
return moved
"""


def month_of(time_ms: int) -> str:
    """'YYYY-MM' of ``time_ms`` (UTC)."""
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m")


def dedup_months(time_ms: int) -> tuple[str, ...]:
    """The months a fill traded at ``time_ms`` may have been booked under: its own, and the
    neighbour when within a day of the edge (two sources of one trade may disagree on its
    time by a little; never by a day)."""
    own = month_of(time_ms)
    near = {month_of(time_ms - EDGE_MS), month_of(time_ms + EDGE_MS)} - {own}
    return (own, *sorted(near))


def months_between(start_ms: int, end_ms: int) -> list[str]:
    """Every month touched by [start_ms, end_ms)."""
    out: list[str] = []
    year, month = map(int, month_of(start_ms).split("-"))
    last = month_of(max(start_ms, end_ms - 1))
    while True:
        name = f"{year:04d}-{month:02d}"
        out.append(name)
        if name >= last:
            return out
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


class Archive:
    """Reads of the archive, and the schema 2 -> 3 move of the fills, for one store."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def months(self) -> list[str]:
        k = self.store.key(MONTHS)
        raw = await self.store.call("SMEMBERS archive months", self.store.client.smembers(k),
                                    keys={k: "set"})
        months = sorted(as_text(m) or "" for m in raw)
        bad = [m for m in months if not _MONTH_RE.fullmatch(m)]
        if bad:
            raise StateError(f"{k}: holds {bad[:3]}, expected months as YYYY-MM")
        return months

    async def fills(self, start_ms: int | None = None, end_ms: int | None = None) -> list[Fill]:
        """Booked fills with start_ms <= time < end_ms (None: unbounded), by time."""
        months = await self.months()
        if start_ms is not None and end_ms is not None:
            wanted = set(months_between(start_ms, end_ms))
            months = [m for m in months if m in wanted]
        out = [f for m in months for f in await self._fills_of(m)
               if (start_ms is None or f.time_ms >= start_ms)
               and (end_ms is None or f.time_ms < end_ms)]
        return sorted(out, key=lambda f: (f.time_ms, f.trade_id))

    async def latest_fills(self, n: int) -> list[Fill]:
        """The newest ``n`` fills by time, reading months from the newest back."""
        out: list[Fill] = []
        for month in reversed(await self.months()):
            out += await self._fills_of(month)
            if len(out) >= n:
                break
        return sorted(out, key=lambda f: (f.time_ms, f.trade_id))[-n:] if n > 0 else []

    async def _fills_of(self, month: str) -> list[Fill]:
        hk = self.store.key(FILLS + month)
        raw = await self.store.call("HGETALL archived fills", self.store.client.hgetall(hk),
                                    keys={hk: "hash"})
        out = []
        for tid, body in raw.items():
            where = f"{hk}[{as_text(tid)}]"
            out.append(fill_from_dict(decode_json(body, where), key=where))
        return out

    async def orders(self) -> dict[str, Order]:
        """Every archived order (those that aged out of the recent ones)."""
        out: dict[str, Order] = {}
        for month in await self.months():
            hk = self.store.key(ORDERS + month)
            raw = await self.store.call("HGETALL archived orders",
                                        self.store.client.hgetall(hk), keys={hk: "hash"})
            for coid, body in raw.items():
                where = f"{hk}[{as_text(coid)}]"
                out[as_text(coid) or ""] = order_from_dict(decode_json(body, where), key=where)
        return out

    async def booked_among(self, fills: Iterable[Fill]) -> set[str]:
        """The trade ids of ``fills`` the books hold (one pipelined round trip)."""
        pairs = [(f.trade_id, self.store.key(FILLS + m)) for f in fills
                 for m in dedup_months(f.time_ms)]
        if not pairs:
            return set()
        pipe = self.store.client.pipeline(transaction=False)
        for tid, hk in pairs:
            pipe.hexists(hk, tid)
        found = await self.store.call("HEXISTS archived fills", pipe.execute(),
                                      keys={hk: "hash" for _, hk in pairs})
        return {tid for (tid, _), hit in zip(pairs, found, strict=True) if hit}

    async def migrate_fills(self) -> int:
        """Move schema 2's ``P fills`` into the month hashes, one atomic script per batch the
        scan returns, following the scan's cursor (a scan from 0 of a large hash can answer an
        empty batch with a cursor to go on from), until the hash is empty; returns how many
        moved."""
        old = self.store.key(OLD_FILLS)
        total, cursor = 0, 0
        while True:
            reply = await self.store.call("HSCAN fills", self.store.client.hscan(
                old, cursor, count=BATCH), keys={old: "hash"})
            cursor = int(reply[0])
            fields = list(cast(dict[bytes, bytes], reply[1]).items())
            for at in range(0, len(fields), BATCH):
                total += await self._move(old, fields[at:at + BATCH])
            if cursor == 0 and not await self.store.call(
                    "HLEN fills", self.store.client.hlen(old), keys={old: "hash"}):
                return total

    async def _move(self, old: str, batch: Sequence[tuple[object, object]]) -> int:
        keys = [old, self.store.key(MONTHS)]
        args: list[str | int | bytes] = [len(batch)]
        for tid, body in batch:
            text = as_text(tid) or ""
            where = f"{old}[{text}]"
            fill = fill_from_dict(decode_json(body, where), key=where)
            month = month_of(fill.time_ms)
            hk = self.store.key(FILLS + month)
            if hk not in keys:
                keys.append(hk)
            args += [text, body if isinstance(body, bytes) else str(body),
                     keys.index(hk) + 1, month]
        script = self.store.client.register_script(MIGRATE_FILLS)
        return int(await self.store.call("migrate fills", script(keys=keys, args=args)))
