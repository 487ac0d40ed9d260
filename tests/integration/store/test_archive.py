"""Schema 3 (issue 20): fills and aged-out orders in per-month archive hashes, the dedup of a
fill reading only its own month (and the neighbour near a month's edge), nothing lost when
orders age out, and the migration of a schema 2 prefix (every fill in one hash, the cost basis
with every trade id), resumable when stopped half-way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from daemon.adapters.redis_archive import (
    Archive,
    dedup_months,
    month_of,
    months_between,
)
from daemon.adapters.redis_codec import fill_to_dict, order_to_dict
from daemon.adapters.redis_records import TradeCounters
from daemon.adapters.redis_store import RedisStore
from daemon.domain.cost_basis import CostBasis
from daemon.domain.orders import Order, OrderAccepted, OrderFilled
from daemon.errors import StateError
from tests.support.store_builders import booked_ids, fill, intent

P = "bot:QRLUSDT:"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def done(coid: str, tid: str, time_ms: int, qty: str = "1") -> Order:
    o = intent(qty=qty, coid=coid, now_ms=time_ms - 10).apply(OrderAccepted(f"V-{coid}",
                                                                             time_ms - 5))
    return o.apply(OrderFilled(fill(tid, qty, coid=coid, order_id=f"V-{coid}",
                                    time_ms=time_ms)))


def test_months() -> None:
    assert month_of(ms("2026-01-31T23:59:59")) == "2026-01"
    assert dedup_months(ms("2026-01-31T23:00:00")) == ("2026-01", "2026-02")
    assert dedup_months(ms("2026-02-01T00:30:00")) == ("2026-02", "2026-01")
    assert dedup_months(ms("2026-02-15T00:00:00")) == ("2026-02",)
    assert months_between(ms("2025-11-20T00:00:00"), ms("2026-02-01T00:00:00")) == [
        "2025-11", "2025-12", "2026-01"]


async def test_fills_go_to_the_month_of_their_trade_and_are_booked_once_across_the_edge(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    late_jan = ms("2026-01-31T23:59:59")
    o = done("rb-a-0", "t1", late_jan)
    await store.book_fills(o, o.fills, cost_basis={}, counters=TradeCounters())
    assert await redis_client.hkeys(P + "archive:fills:2026-01") == [b"t1"]
    assert await redis_client.smembers(P + "archive:months") == {b"2026-01"}
    # the same trade reported by another source a second later, in February: already booked
    again = done("rb-a-0", "t1", late_jan + 2_000)
    result = await store.book_fills(again, again.fills, cost_basis={"x": "1"},
                                    counters=TradeCounters())
    assert (result.booked, result.already) == ((), ("t1",))
    assert await redis_client.exists(P + "archive:fills:2026-02") == 0
    assert await store.booked_among(again.fills) == {"t1"}
    mid_feb = done("rb-b-0", "t2", ms("2026-02-15T12:00:00"))
    assert await store.booked_among(mid_feb.fills) == set()
    await store.book_fills(mid_feb, mid_feb.fills, cost_basis={}, counters=TradeCounters())
    assert [f.trade_id for f in await store.get_fills()] == ["t1", "t2"]
    assert [f.trade_id for f in await store.get_fills(ms("2026-02-01T00:00:00"),
                                                      ms("2026-03-01T00:00:00"))] == ["t2"]
    assert [f.trade_id for f in await store.latest_fills(1)] == ["t2"]
    assert await store.unknown_keys() == []  # the archive keys are known ones


async def test_orders_that_age_out_are_archived_never_dropped(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    """The fixture keeps 3 recent ended orders: 6 ended, 3 recent + 3 archived, all readable."""
    for i in range(6):
        o = done(f"rb-c-{i}", f"t{i}", ms("2026-03-01T00:00:00") + i * 60_000)
        await store.book_fills(o, o.fills, cost_basis={}, counters=TradeCounters())
    assert await redis_client.zcard(P + "orders:closed") == 3
    assert sorted((await store.load_state()).orders) == ["rb-c-3", "rb-c-4", "rb-c-5"]
    archived = await store.archived_orders()
    assert sorted(archived) == ["rb-c-0", "rb-c-1", "rb-c-2"]
    assert archived["rb-c-0"].fills[0].trade_id == "t0"
    assert await booked_ids(redis_client, P) == {f"t{i}" for i in range(6)}
    # the daemon's window: the newest ended orders only
    assert sorted((await store.load_state(recent=1)).orders) == ["rb-c-5"]


async def schema2(redis_url: str, fills: int) -> None:
    """What schema 2 left: every fill in ``P fills``, the cost basis with every trade id."""
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.mset({P + "schema": "2", P + "epoch": "e2e2e2e2e2e2e2e2", P + "books": "7"})
        cost = CostBasis()
        for i in range(fills):
            f = fill(f"t{i}", "1", time_ms=ms("2026-01-20T00:00:00") + i * 86_400_000 * 5)
            await raw.hset(P + "fills", f.trade_id, json.dumps(fill_to_dict(f)))
            cost = cost.apply(f, base_asset="QRL", quote_asset="USDT")
        old = {**cost.to_dict(), "v": 1, "trade_ids": [f"t{i}" for i in range(fills)]}
        del old["fills"]
        await raw.set(P + "cost_basis", json.dumps(old))
        o = done("rb-old-0", "t0", ms("2026-01-20T00:00:00"))
        await raw.hset(P + "orders", o.client_order_id, json.dumps(order_to_dict(o)))
        await raw.zadd(P + "orders:closed", {o.client_order_id: o.updated_ms})
    finally:
        await raw.aclose()


async def test_schema_2_is_migrated_fills_to_the_archive_cost_basis_without_ids(
        redis_url: str, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    await schema2(redis_url, 30)
    monkeypatch.setattr("daemon.adapters.redis_archive.BATCH", 7)  # several batches
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await store.check_schema()
        assert await redis_client.get(P + "schema") == b"3"
        assert await redis_client.exists(P + "fills") == 0
        assert await booked_ids(redis_client, P) == {f"t{i}" for i in range(30)}
        assert await redis_client.smembers(P + "archive:months") == {
            b"2026-01", b"2026-02", b"2026-03", b"2026-04", b"2026-05", b"2026-06"}
        cost = json.loads(await redis_client.get(P + "cost_basis") or b"{}")
        assert cost == {"v": 2, "avg_cost": "0.51", "qty": "30", "realized_pnl": "0",
                        "fees_other": {}, "fills": 30}  # (30 * 0.5 + 30 * 0.01 fees) / 30
        assert await redis_client.get(P + "books") == b"8"  # a writer of before is fenced off
        state = await store.load_state()
        assert state.view.epoch == "e2e2e2e2e2e2e2e2" and "rb-old-0" in state.orders
        again = done("rb-old-0", "t3", ms("2026-02-04T00:00:00"))
        result = await store.book_fills(again, again.fills, cost_basis={},
                                        counters=TradeCounters())
        assert result.already == ("t3",)  # a migrated fill is never booked twice
        await store.check_schema()  # idempotent
        assert await redis_client.get(P + "books") == b"8"
    finally:
        await store.close()


async def test_a_migration_stopped_half_way_resumes(redis_url: str,
                                                    redis_client: aioredis.Redis) -> None:
    await schema2(redis_url, 12)
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        raw = await redis_client.hgetall(P + "fills")
        await Archive(store)._move(P + "fills", sorted(raw.items())[:5])  # then it stopped
        assert await redis_client.hlen(P + "fills") == 7
        assert await redis_client.get(P + "schema") == b"2"  # not moved on yet
        await store.check_schema()
        assert await redis_client.get(P + "schema") == b"3"
        assert await booked_ids(redis_client, P) == {f"t{i}" for i in range(12)}
    finally:
        await store.close()


async def test_a_corrupt_fill_stops_the_migration_naming_it(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    await schema2(redis_url, 3)
    await redis_client.hset(P + "fills", "bad", "{nope")
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        with pytest.raises(StateError, match=rf"^{P}fills\[bad\]: not valid JSON"):
            await store.check_schema()
        assert await redis_client.get(P + "schema") == b"2"
        assert await redis_client.hget(P + "fills", "bad") == b"{nope"  # kept for the operator
    finally:
        await store.close()



async def test_a_large_schema_2_hash_is_moved_whole(redis_url: str,
                                                    redis_client: aioredis.Redis) -> None:
    """20,000 fills: past Redis's compact encoding a scan from 0 returns empty batches with a
    cursor to go on from once the first buckets are emptied; the migration follows the cursor
    (it used to stop there, leaving most fills behind and the daemon refusing to start)."""
    await redis_client.mset({P + "schema": "2", P + "epoch": "e2e2e2e2e2e2e2e2", P + "books": "1"})
    pipe = redis_client.pipeline(transaction=False)
    for i in range(20_000):
        f = fill(f"t{i}", "1", time_ms=ms("2026-01-01T00:00:00") + i * 3_600_000)
        pipe.hset(P + "fills", f.trade_id, json.dumps(fill_to_dict(f)))
    await pipe.execute()
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await store.check_schema()
        assert await redis_client.get(P + "schema") == b"3"
        assert await redis_client.exists(P + "fills") == 0
        assert len(await booked_ids(redis_client, P)) == 20_000
    finally:
        await store.close()


async def test_no_migration_while_a_daemon_of_the_earlier_release_holds_the_lease(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    await schema2(redis_url, 3)
    await redis_client.set(P + "lease", "host:42:old", px=30_000)
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        with pytest.raises(StateError, match=rf"^{P}lease: held by host:42:old while the "
                                             "books of schema 2 wait"):
            await store.check_schema()
        assert await redis_client.hlen(P + "fills") == 3  # nothing moved
        assert await redis_client.get(P + "schema") == b"2"
    finally:
        await store.close()
