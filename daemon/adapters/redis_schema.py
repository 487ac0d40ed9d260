"""The schema of a key prefix: created on an empty prefix, checked, and older schemas migrated
(1: no core credit, read as 0; 1 and 2: every fill in one hash, moved to the per-month archive,
and the cost basis with every trade id, rewritten without them). A migration is resumable: the
fills move in atomic batches, and the schema moves on only once none is left behind."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from loguru import logger

from daemon.adapters.redis_archive import OLD_FILLS, Archive
from daemon.adapters.redis_records import as_text, encode_json, opt_json_object
from daemon.domain.cost_basis import CostBasis
from daemon.errors import StateError

if TYPE_CHECKING:
    from daemon.adapters.redis_store import RedisStore

SCHEMA_VERSION = 3
# schema 1 had no core credit (read as credit 0); 1 and 2 kept every fill in one hash (moved to
# the archive) and the cost basis with every trade id (rewritten without)
MIGRATES_FROM = ("1", "2")
# Keys under the prefix that are not the books: a prefix holding only these has no books (a
# daemon waiting for them, an operator's halt, the plans it logged)
NOT_BOOKS = ("lease", "heartbeat", "halted", "last_plan", "plan_history", "manual_requests",
             "manual_replies", "reload")


async def check_schema(store: RedisStore) -> None:
    """Create schema, epoch and books version on an empty prefix (and add the last two to
    a prefix written before books were fenced); StateError when the prefix holds another
    version or content without a version."""
    key = store.key("schema")
    if await store.call("GET schema", store.client.get(key)) is None:
        # the pair's own lease key too (held by a portfolio trading this pair: RedisLease)
        not_books = {store.key(n) for n in NOT_BOOKS} | {store.books_lease_key}
        others = [k for k in await store.call("SCAN", store._scan_keys())
                  if k not in not_books]
        if others:
            shown = ", ".join(sorted(others)[:5])
            raise StateError(
                f"{key}: missing, but {len(others)} key(s) exist under {store.prefix!r} "
                f"({shown}); refusing to adopt content of an unknown schema")
    migrated = await _move_old_fills(store)
    names = ("schema", "epoch", "books", "cost_basis", OLD_FILLS)
    keys = [store.key(n) for n in names] + [
        store.key(n) for n in store.KNOWN if n not in (*names, *NOT_BOOKS)]
    old, new = await _cost_basis_rewrite(store)
    reply = await store.call("check_schema", store._scripts["INIT_SCHEMA"](
        keys=keys, args=[str(SCHEMA_VERSION), secrets.token_hex(8), ",".join(MIGRATES_FROM),
                         old, new]))
    created, value = int(reply[0]), reply[1]
    if created == -1:
        raise StateError(f"{key}: schema version is {as_text(value)!r}, this daemon reads "
                         f"{SCHEMA_VERSION}; migrate or use another key prefix")
    if created == -2:
        raise StateError(f"{store.key(OLD_FILLS)}: {value} fill(s) were written while they "
                         "were being moved to the archive (is a daemon of an older version "
                         "still running on this prefix?); stop it and start again")
    if created == 1:
        logger.info("new books under {!r} (epoch {})", store.prefix, as_text(value))
    elif created == 2:
        logger.warning("books under {!r} had no epoch and version (written before books "
                       "were fenced): added (epoch {})", store.prefix, as_text(value))
    elif created == 3:
        _migrated(store, as_text(reply[2]) or "", migrated)

def _migrated(store: RedisStore, old_schema: str, fills_moved: int) -> None:
    credit = ("; the core floor keeps its value and starts with a core credit of 0 "
              "(STRATEGY.md v2)") if old_schema == "1" else ""
    logger.warning("books under {!r} migrated from schema {} to {}: {} fill(s) moved to "
                   "per-month archive keys, the cost basis keeps its figures without the "
                   "trade ids{}; nothing else changed", store.prefix, old_schema,
                   SCHEMA_VERSION, fills_moved, credit)

async def _move_old_fills(store: RedisStore) -> int:
    """Schema 1/2: the one hash of every fill, moved to the archive before the schema
    moves on (resumable: each batch is atomic)."""
    schema = as_text(await store.call("GET schema", store.client.get(store.key("schema"))))
    if schema not in MIGRATES_FROM:
        return 0
    lease = store.key("lease")
    holder = as_text(await store.call("GET lease", store.client.get(lease),
                                      keys={lease: "string"}))
    if holder is not None:  # a daemon of the earlier release trading on: never under it
        raise StateError(f"{lease}: held by {holder} while the books of schema {schema} wait "
                         f"to be migrated to {SCHEMA_VERSION}: stop the daemon of the earlier "
                         "release (or wait out its lease, redis.lease_ttl_s) and start again")
    return await Archive(store).migrate_fills()


async def _cost_basis_rewrite(store: RedisStore) -> tuple[str, str]:
    """(stored, rewritten) for a cost basis of schema 1 (with every trade id), else
    ("", ""): INIT_SCHEMA rewrites it only if it is still the one read."""
    k = store.key("cost_basis")
    raw = await store.call("GET cost_basis", store.client.get(k), keys={k: "string"})
    if raw is None:
        return "", ""
    data = opt_json_object(raw, k)
    if data is None or data.get("v") != 1:
        return "", ""
    try:
        cost = CostBasis.from_dict(data)
    except StateError as exc:
        raise StateError(f"{k}: {exc}") from None
    return as_text(raw) or "", encode_json(cost.to_dict(), "cost_basis")

