"""The reload outcome key (``P reload``, daemon/adapters/redis_reload.py) against a real
redis-server: one record per daemon, the oldest dropped past the cap, content the daemon did
not write named, and the key is not part of the books (a prefix holding only it is empty)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from daemon.adapters import redis_reload
from daemon.adapters.redis_reload import Outcome, ReloadOutcome, ReloadRecord
from daemon.adapters.redis_store import RedisStore
from daemon.errors import StateError

P = "bot:QRLUSDT:"


def record(n: int, outcome: Outcome = Outcome.APPLIED) -> ReloadRecord:
    return ReloadRecord(f"vm:{1000 + n}:abcd", "vm", 1000 + n, ReloadOutcome(
        outcome, signal_ms=n * 10, at_ms=n * 10 + 1, seq=1, config="/etc/rebalancer/c.yaml",
        applied=("strategy.ratio",) if outcome is Outcome.APPLIED else (),
        restart_only=("exchange.rest_url",),
        errors=("strategy.ratio: too big",) if outcome is Outcome.REJECTED else ()))


async def test_one_record_per_daemon_oldest_dropped(redis_url: str) -> None:
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await redis_reload.write_record(store, record(1))
        again = record(1, Outcome.REJECTED)
        await redis_reload.write_record(store, again)  # the same daemon: replaced
        assert await redis_reload.read_record(store, "vm:1001:abcd") == again
        assert await redis_reload.read_record(store, "vm:9:none") is None
        for n in range(2, redis_reload.MAX_INSTANCES + 4):
            await redis_reload.write_record(store, record(n))
        kept = await redis_reload.read_records(store)
        assert len(kept) == redis_reload.MAX_INSTANCES
        assert [r.pid for r in kept] == list(range(1000 + redis_reload.MAX_INSTANCES + 3,
                                                   1003, -1))  # newest first, 1..3 dropped
    finally:
        await store.close()


async def test_content_the_daemon_did_not_write_is_named(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    await redis_client.hset(P + "reload", "vm:1:x", '{"owner": "vm:1:x", "outcome": "maybe"}')
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        with pytest.raises(StateError, match=r"bot:QRLUSDT:reload\[vm:1:x\]"):
            await redis_reload.read_record(store, "vm:1:x")
        await redis_client.delete(P + "reload")
        await redis_client.set(P + "reload", "a string")
        with pytest.raises(StateError, match="bot:QRLUSDT:reload: holds a string, expected "
                                             "a hash"):
            await redis_reload.read_records(store)
    finally:
        await store.close()


async def test_the_reload_key_is_not_books(redis_url: str,
                                           redis_client: aioredis.Redis) -> None:
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await redis_reload.write_record(store, record(1))
        await store.check_schema()  # a prefix holding only it has no books: created
        assert await redis_client.get(P + "schema") == b"3"
        assert await store.unknown_keys() == []
    finally:
        await store.close()
