"""A key of another Redis type than the store expects (foreign content, a manual mistake):
every simple read and write refuses it with a StateError naming the FULL key, what it holds
and what was expected, and leaves the key as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_store import RedisStore
from daemon.errors import StateError

P = "bot:QRLUSDT:"

Op = Callable[[RedisStore], Awaitable[Any]]


async def put(client: aioredis.Redis, key: str, kind: str) -> None:
    if kind == "list":
        await client.rpush(key, "foreign")
    elif kind == "hash":
        await client.hset(key, "a", "foreign")
    elif kind == "set":
        await client.sadd(key, "foreign")
    else:
        assert kind == "string"
        await client.set(key, "foreign")


OPS: dict[str, Op] = {
    "get_halt": lambda s: s.get_halt(),
    "get_core_floor": lambda s: s.get_core_floor(),
    "plan_history": lambda s: s.plan_history(),
    "record_plan": lambda s: s.record_plan({"action": "HOLD"}),
    "get_order": lambda s: s.get_order("rb-x-0"),
    "get_fills": lambda s: s.get_fills(),
    "lease_holder": lambda s: RedisLease(s).holder(),
}
CASES = [("halted", "list", "string", "get_halt"),
         ("core_floor", "list", "string", "get_core_floor"),
         ("core_floor", "set", "string", "get_core_floor"),
         ("plan_history", "string", "list", "plan_history"),
         ("plan_history", "hash", "list", "record_plan"),
         ("orders", "string", "hash", "get_order"),
         ("archive:months", "list", "set", "get_fills"),
         ("lease", "list", "string", "lease_holder")]


@pytest.mark.parametrize(("name", "held", "expected", "op"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CASES])
async def test_wrong_type_names_the_full_key(store: RedisStore, redis_client: aioredis.Redis,
                                             name: str, held: str, expected: str,
                                             op: str) -> None:
    key = P + name
    await put(redis_client, key, held)
    with pytest.raises(StateError) as caught:
        await OPS[op](store)
    assert str(caught.value) == f"{key}: holds a {held}, expected a {expected} (WRONGTYPE)"
    assert (await redis_client.type(key)).decode() == held  # untouched
    assert store.available  # content, not an outage


async def test_record_plan_names_only_the_key_of_another_type(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    await redis_client.set(P + "plan_history", "foreign")
    with pytest.raises(StateError) as caught:
        await store.record_plan({"action": "HOLD"})
    assert str(caught.value) == \
        f"{P}plan_history: holds a string, expected a list (WRONGTYPE)"


async def test_the_right_types_still_work(store: RedisStore) -> None:
    await store.set_halt("test", 1)
    await store.set_core_floor(Decimal("5"), 1)
    await store.record_plan({"action": "HOLD"})
    halt = await store.get_halt()
    assert halt is not None and (halt.reason, halt.time_ms) == ("test", 1)
    assert await store.get_core_floor() == Decimal("5")
    assert [p["action"] for p in await store.plan_history()] == ["HOLD"]
    assert await store.get_order("rb-x-0") is None and await store.get_fills() == []
    assert await store.clear_halt()
