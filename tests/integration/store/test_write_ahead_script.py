"""The write-ahead is ONE script call (issue 20): it checks the lease, the fence (the epoch and
books version the writer read), whether the intent exists and the halt flag, refuses with a
distinct error for each and then writes nothing at all; else it writes the intent and the plan
record that decided it (last plan and capped history) together. Through the real store on a
real redis-server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_store import RedisStore
from daemon.errors import (
    BooksChanged,
    BooksLost,
    IntentExists,
    LeaseLost,
    StateError,
    TradingHalted,
)
from tests.support.store_builders import COID, intent

P = "bot:QRLUSDT:"
OWNER = "host:1:aaaa"


def plan(n: int) -> dict[str, Any]:
    return {"cycle_id": f"c{n}", "action": "SELL", "reason_code": "rebalance_sell"}


async def written(client: aioredis.Redis) -> list[Any]:
    """What a write-ahead writes, and the books version (DUMP: any type), to compare before
    and after."""
    return [await client.dump(P + k) for k in ("orders", "orders:open", "last_plan",
                                                "plan_history", "books")]


async def test_the_intent_and_its_plan_are_written_in_one_call(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    assert await RedisLease(store).acquire(OWNER, 30)
    for n in range(4):  # the store fixture keeps 3 plans
        await store.write_intent(intent(coid=f"rb-t62utc-{n}"), lease_owner=OWNER,
                                 plan=plan(n))
    assert [p["cycle_id"] for p in await store.plan_history()] == ["c3", "c2", "c1"]
    state = await store.load_state()
    assert state.last_plan == plan(3)
    assert set(state.orders) == {f"rb-t62utc-{n}" for n in range(4)} == state.open_order_ids
    assert store.view is not None and store.view.version == 4  # each moved the books on
    await store.write_intent(intent(coid="rb-t62utc-9"))  # without a plan: none written
    assert (await store.load_state()).last_plan == plan(3)


async def refused(store: RedisStore, client: aioredis.Redis, error: type[Exception],
                  match: str, owner: str | None = OWNER) -> None:
    before = await written(client)
    with pytest.raises(error, match=match):
        await store.write_intent(intent(coid="rb-t62utc-1"), lease_owner=owner, plan=plan(1))
    assert await written(client) == before  # nothing at all, the plan neither


async def test_halted(store: RedisStore, redis_client: aioredis.Redis) -> None:
    assert await RedisLease(store).acquire(OWNER, 30)
    await store.set_halt("operator: maintenance", 1)
    await refused(store, redis_client, TradingHalted, f"^{P}halted is set$")


async def test_lease_lost(store: RedisStore, redis_client: aioredis.Redis) -> None:
    assert await RedisLease(store).acquire("host:2:bbbb", 30)
    await refused(store, redis_client, LeaseLost, f"^{P}lease is held by host:2:bbbb$")
    await redis_client.delete(P + "lease")
    await refused(store, redis_client, LeaseLost, f"^{P}lease is held by nobody$")


async def test_fenced_books_written_behind_the_writer(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    """``core set`` (an operator's write) moves the books version on: the daemon's view is
    stale, its decision was made on other books."""
    operator = RedisStore(store.url, P)
    await operator.connect()
    try:
        await operator.set_core_floor(Decimal("5"), 1, source="manual")
    finally:
        await operator.close()
    await refused(store, redis_client, BooksChanged, f"^{P}books is 1, the writer read 0$",
                  owner=None)


async def test_fenced_books_lost(store: RedisStore, redis_client: aioredis.Redis) -> None:
    await redis_client.set(P + "epoch", "0123456789abcdef")  # a new life of the books
    await refused(store, redis_client, BooksLost, f"^{P}epoch is 0123456789abcdef, the books "
                  "were read under ", owner=None)


async def test_intent_exists(store: RedisStore, redis_client: aioredis.Redis) -> None:
    await store.write_intent(intent(coid="rb-t62utc-1"))
    await refused(store, redis_client, IntentExists, f"^order rb-t62utc-1 is already in {P}"
                  "orders$", owner=None)


@pytest.mark.parametrize(("key", "put", "what"), [
    ("plan_history", "set", "holds a string, expected a list"),
    ("orders:open", "hset", "holds a hash, expected a set")])
async def test_a_key_of_another_type_is_refused_before_anything_is_written(
        store: RedisStore, redis_client: aioredis.Redis, key: str, put: str,
        what: str) -> None:
    if put == "set":
        await redis_client.set(P + key, "foreign")
    else:
        await redis_client.hset(P + key, "a", "foreign")
    await refused(store, redis_client, StateError, f"^{P}{key}: {what}$", owner=None)
    assert await store.get_order(COID) is None
