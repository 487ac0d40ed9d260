"""RedisStore against a real redis-server: schema, write-ahead intents, atomic fill booking,
corrupt content, plans, halt and core floor."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from daemon.adapters.redis_codec import order_to_dict
from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_records import TradeCounters, encode_json
from daemon.adapters.redis_store import BookResult, RedisStore
from daemon.domain.models import OrderStatus
from daemon.domain.orders import (
    Order,
    OrderAccepted,
    OrderFilled,
    OrderState,
    OrderStatusReported,
    OrderSubmitted,
)
from daemon.errors import (
    BooksChanged,
    InputError,
    IntentExists,
    LeaseLost,
    StateError,
    TradingHalted,
)
from tests.support.store_builders import COID, VENUE_ID, booked_ids, fill, intent, report

P = "bot:QRLUSDT:"
DAY_MS = 1_763_700_000_000  # 2025-11-21 04:40 UTC


def filled(order: Order, *fills_: tuple[str, str]) -> Order:
    for tid, qty in fills_:
        order = order.apply(OrderFilled(fill(tid, qty, time_ms=DAY_MS,
                                             coid=order.client_order_id,
                                             order_id=order.order_id or VENUE_ID)))
    return order


def sent(coid: str = COID, qty: str = "100") -> Order:
    return intent(qty=qty, coid=coid).apply(OrderSubmitted(1_100)).apply(
        OrderAccepted(VENUE_ID if coid == COID else f"V-{coid}", 1_200))


# ----------------------------------------------------------------------------- schema
async def test_schema_written_on_empty_prefix_and_checked(store: RedisStore,
                                                          redis_client: aioredis.Redis) -> None:
    assert await redis_client.get(P + "schema") == b"3"
    await store.check_schema()  # idempotent
    await redis_client.set(P + "schema", "7")
    with pytest.raises(StateError, match=r"bot:QRLUSDT:schema: schema version is '7'"):
        await store.check_schema()
    with pytest.raises(StateError, match="schema version is '7'"):
        await store.load_state()


async def test_content_without_schema_is_not_adopted(redis_url: str,
                                                     redis_client: aioredis.Redis) -> None:
    await redis_client.set("bot:X:cost_basis", "{}")
    await redis_client.set("bot:Y:cost_basis", "{}")  # other prefixes do not count
    s = RedisStore(redis_url, "bot:X:")
    await s.connect()
    try:
        with pytest.raises(StateError, match=r"bot:X:schema: missing, but 1 key\(s\) exist"):
            await s.check_schema()
        assert await redis_client.get("bot:X:schema") is None
    finally:
        await s.close()


# ------------------------------------------------------------------------ write-ahead
async def test_intent_round_trip_and_never_written_twice(store: RedisStore) -> None:
    o = intent()
    await store.write_intent(o)
    state = await store.load_state()
    assert state.orders == {COID: o}
    assert state.open_order_ids == {COID}
    assert state.open_orders == [o]
    with pytest.raises(IntentExists, match=f"order {COID} is already in {P}orders"):
        await store.write_intent(intent(qty="5"))
    assert await store.get_order(COID) == o
    with pytest.raises(ValueError, match="expected INTENT"):
        await store.write_intent(sent("rb-a-1"))


async def test_intent_refused_while_halted_or_without_the_lease(store: RedisStore) -> None:
    await store.set_halt("operator: maintenance", DAY_MS)
    with pytest.raises(TradingHalted, match=f"{P}halted is set"):
        await store.write_intent(intent())
    assert await store.clear_halt() is True
    lease = RedisLease(store)
    assert await lease.acquire("daemon-a", 5)
    with pytest.raises(LeaseLost, match="held by daemon-a"):
        await store.write_intent(intent(), lease_owner="daemon-b")
    assert await store.get_order(COID) is None
    await store.write_intent(intent(), lease_owner="daemon-a")
    assert (await store.get_order(COID)) == intent()


# ------------------------------------------------------------------------ save_order
async def test_save_order_never_overwrites_a_newer_version(store: RedisStore) -> None:
    o1 = intent()
    await store.write_intent(o1)
    o2 = o1.apply(OrderSubmitted(1_100))
    o3 = o2.apply(OrderAccepted(VENUE_ID, 1_200))
    assert await store.save_order(o3) is True
    assert await store.save_order(o2) is False  # late save of an older version
    assert (await store.get_order(COID)) == o3
    assert await store.save_order(o3) is True  # same version: idempotent


async def test_terminal_orders_leave_the_open_set_and_recent_ones_are_capped(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    for i in range(5):
        o = sent(f"rb-c-{i}", qty="1")
        await store.save_order(o)
        done = o.apply(OrderFilled(fill(f"t{i}", "1", coid=o.client_order_id,
                                        order_id=f"V-rb-c-{i}", time_ms=10_000 + i)))
        assert done.status is OrderState.FILLED
        await store.save_order(done)
    await store.save_order(sent("rb-open-0"))
    state = await store.load_state()
    assert state.open_order_ids == {"rb-open-0"}
    assert sorted(state.orders) == ["rb-c-2", "rb-c-3", "rb-c-4", "rb-open-0"]  # 3 recent
    assert await redis_client.zcard(P + "orders:closed") == 3


# ------------------------------------------------------------------------ book_fills
async def test_book_fills_writes_everything_atomically(store: RedisStore) -> None:
    o = sent()
    await store.save_order(o)
    o = filled(o, ("t1", "40"), ("t2", "60"))
    counters = TradeCounters().after_trade(DAY_MS)
    result = await store.book_fills(
        o, o.fills, cost_basis={"avg_cost": Decimal("0.5"), "realized_pnl": "0"},
        counters=counters, core_floor=Decimal("70"), balances={"QRL": {"free": "100"}})
    assert result.booked == ("t1", "t2") and result.already == () and result.order_saved
    state = await store.load_state()
    assert await booked_ids(store.client, P) == {"t1", "t2"}
    assert state.cost_basis == {"avg_cost": "0.5", "realized_pnl": "0"}
    assert state.core_floor == Decimal("70")
    assert state.counters == TradeCounters("2025-11-21", 1, DAY_MS, 1)
    assert state.balances == {"QRL": {"free": "100"}}
    assert state.orders[COID].status is OrderState.FILLED
    assert state.open_order_ids == frozenset()
    assert [f.trade_id for f in await store.get_fills()] == ["t1", "t2"]
    assert (await store.get_fills())[0] == o.fills[0]


async def test_overlapping_booking_writes_nothing(store: RedisStore) -> None:
    o = filled(sent(), ("t1", "40"))
    await store.book_fills(o, o.fills, cost_basis={"v": "1"}, counters=TradeCounters())
    o2 = filled(o, ("t2", "10"))
    again = await store.book_fills(o2, o2.fills, cost_basis={"v": "2"},
                                   counters=TradeCounters(), core_floor=Decimal("1"))
    assert (again.booked, again.already, again.order_saved) == ((), ("t1",), False)
    state = await store.load_state()
    assert state.cost_basis == {"v": "1"}
    assert state.core_floor is None
    assert await booked_ids(store.client, P) == {"t1"}
    assert state.orders[COID].filled_qty == Decimal("40")


async def test_concurrent_double_booking_books_once(redis_url: str) -> None:
    a = RedisStore(redis_url, P)
    b = RedisStore(redis_url, P)
    await a.connect()
    await b.connect()
    try:
        await a.check_schema()
        for i in range(25):
            await a.load_state()
            await b.load_state()
            coid = f"rb-d-{i}"
            o = filled(sent(coid), (f"x{i}", "5"))
            o = o.apply(OrderFilled(fill(f"y{i}", "1", coid=coid, order_id=f"V-{coid}")))
            results = await asyncio.gather(*[
                s.book_fills(o, o.fills, cost_basis={"n": str(i)},
                             counters=TradeCounters().after_trade(DAY_MS)) for s in (a, b)],
                return_exceptions=True)
            booked = [r for r in results if isinstance(r, BookResult) and r.booked]
            assert len(booked) == 1, results
            # the other writer's view was stale: refused by the fence, nothing written
            assert any(isinstance(r, BooksChanged) for r in results), results
        assert len(await booked_ids(a.client, P)) == 50
    finally:
        await a.close()
        await b.close()


async def test_book_fills_validates_its_input(store: RedisStore) -> None:
    o = filled(sent(), ("t1", "1"))
    with pytest.raises(ValueError, match="does not contain fills"):
        await store.book_fills(sent(), o.fills, cost_basis={}, counters=TradeCounters())
    with pytest.raises(ValueError, match="no fills"):
        await store.book_fills(o, (), cost_basis={}, counters=TradeCounters())
    with pytest.raises(InputError, match=r"cost_basis.avg: float 0.5 not allowed"):
        await store.book_fills(o, o.fills, cost_basis={"avg": 0.5}, counters=TradeCounters())
    assert await booked_ids(store.client, P) == set()


# ---------------------------------------------------------------------- corrupt state
@pytest.mark.parametrize(
    ("key", "field", "value", "match"),
    [
        ("cost_basis", None, "{oops", r"bot:QRLUSDT:cost_basis: not valid JSON"),
        ("cost_basis", None, "[1]", r"cost_basis: expected a JSON object, got list"),
        ("counters", None, '{"day":"2025-11-21","trades_today":1}',
         r"counters: field 'trades_total' is missing"),
        ("counters", None, '{"day":"x","trades_today":3,"trades_total":1,"last_trade_ms":null}',
         r"counters: field 'trades_today' 3 is negative or above"),
        ("core_floor", None, '{"qty":"ten"}', r"core_floor: field 'qty' is not a decimal"),
        ("core_floor", None, '{"qty":NaN}', r"core_floor: not valid JSON \(NaN is not allowed"),
        ("halted", None, '{"reason":"x"}', r"halted: field 'time_ms' is missing"),
        ("orders", COID, '{"v":1}', rf"orders\[{COID}\]: field 'fills' is missing"),
        ("orders", COID, "nope", rf"orders\[{COID}\]: not valid JSON"),
    ],
)
async def test_corrupt_content_is_reported_and_kept(
        store: RedisStore, redis_client: aioredis.Redis, key: str, field: str | None,
        value: str, match: str) -> None:
    if field is None:
        await redis_client.set(P + key, value)
    else:  # an order the daemon reads: listed as open
        await redis_client.hset(P + key, field, value)
        await redis_client.sadd(P + "orders:open", field)
    with pytest.raises(StateError, match=match):
        await store.load_state()
    stored = await (redis_client.get(P + key) if field is None
                    else redis_client.hget(P + key, field))
    assert stored == value.encode()  # never silently replaced


async def test_order_stored_under_another_id_or_dangling_open_id(
        store: RedisStore, redis_client: aioredis.Redis) -> None:
    await redis_client.hset(P + "orders", "rb-other-0", json.dumps(order_to_dict(intent())))
    await redis_client.zadd(P + "orders:closed", {"rb-other-0": 1})
    with pytest.raises(StateError, match=r"orders\[rb-other-0\]: field 'client_order_id'"):
        await store.load_state()
    await redis_client.delete(P + "orders", P + "orders:closed")
    await redis_client.sadd(P + "orders:open", "rb-gone-0")
    with pytest.raises(StateError, match=r"orders:open: lists \['rb-gone-0'\]"):
        await store.load_state()


async def test_saving_over_a_corrupt_order_is_refused(store: RedisStore,
                                                      redis_client: aioredis.Redis) -> None:
    await redis_client.hset(P + "orders", COID, "garbage")
    with pytest.raises(StateError, match=rf"{P}orders field {COID}: stored order is not"):
        await store.save_order(sent())
    assert await redis_client.hget(P + "orders", COID) == b"garbage"


async def test_wrong_redis_type_is_a_state_error(store: RedisStore,
                                                 redis_client: aioredis.Redis) -> None:
    await redis_client.set(P + "orders", "a string")
    with pytest.raises(StateError, match="WRONGTYPE"):
        await store.save_order(sent())


# ------------------------------------------------------------------ plans and health
async def test_plan_history_is_capped_newest_first(store: RedisStore) -> None:
    for i in range(5):
        await store.record_plan({"action": "HOLD", "n": i, "qty": Decimal("1.50")})
    history = await store.plan_history(10)
    assert [p["n"] for p in history] == [4, 3, 2]
    assert history[0]["qty"] == "1.50"
    assert (await store.load_state()).last_plan == {"action": "HOLD", "n": 4, "qty": "1.50"}


async def test_heartbeat_has_a_ttl(store: RedisStore, redis_client: aioredis.Redis) -> None:
    await store.heartbeat(30, {"pid": 1, "state": "running"})
    assert 0 < await redis_client.ttl(P + "heartbeat") <= 30
    raw = await redis_client.get(P + "heartbeat")
    assert raw is not None and json.loads(raw) == {"pid": 1, "state": "running"}


async def test_halt_and_core_floor(store: RedisStore) -> None:
    assert await store.get_halt() is None
    await store.set_halt("drawdown", DAY_MS)
    halt = await store.get_halt()
    assert halt is not None and (halt.reason, halt.time_ms) == ("drawdown", DAY_MS)
    assert (await store.load_state()).halt == halt
    assert await store.clear_halt() is True
    assert await store.clear_halt() is False
    with pytest.raises(ValueError, match="reason"):
        await store.set_halt(" ", DAY_MS)
    await store.set_core_floor(Decimal("123.45"), DAY_MS)
    assert await store.get_core_floor() == Decimal("123.45")
    with pytest.raises(ValueError, match="core floor"):
        await store.set_core_floor(Decimal("-1"), DAY_MS)


async def test_unknown_keys_are_listed(store: RedisStore, redis_client: aioredis.Redis) -> None:
    await redis_client.set(P + "mystery", "1")
    await store.heartbeat(10, {})
    assert await store.unknown_keys() == [P + "mystery"]


def test_counters_roll_over_per_utc_day() -> None:
    c = TradeCounters().after_trade(DAY_MS).after_trade(DAY_MS + 1)
    assert (c.day, c.trades_today, c.trades_total) == ("2025-11-21", 2, 2)
    assert c.trades_on(DAY_MS + 3_600_000) == 2
    next_day = DAY_MS + 86_400_000
    assert c.trades_on(next_day) == 0
    d = c.after_trade(next_day)
    assert (d.day, d.trades_today, d.trades_total, d.last_trade_ms) == (
        "2025-11-22", 1, 3, next_day)
    late = d.after_trade(DAY_MS)  # a late trade from yesterday only adds to the total
    assert (late.day, late.trades_today, late.trades_total, late.last_trade_ms) == (
        "2025-11-22", 1, 4, next_day)


def test_encode_json_keeps_decimals_as_strings() -> None:
    assert encode_json({"b": Decimal("1E+2"), "a": [Decimal("0.10")]}, "x") == (
        '{"a":["0.10"],"b":"1E+2"}')
    with pytest.raises(InputError, match=r"x.s: cannot store set"):
        encode_json({"s": {1}}, "x")


async def test_set_cost_basis_and_from_settings(redis_url: str) -> None:
    from daemon.config import parse_settings

    settings = parse_settings({"redis": {"url": redis_url, "plan_history_max": 2}})
    s = RedisStore.from_settings(settings)
    assert (s.prefix, s.plan_history_max, s.recent_orders_max) == (P, 2, 500)
    await s.connect()
    try:
        await s.check_schema()
        await s.load_state()
        await s.set_cost_basis({"avg_cost": Decimal("0.25"), "qty": "10"})
        assert (await s.load_state()).cost_basis == {"avg_cost": "0.25", "qty": "10"}
    finally:
        await s.close()


async def test_book_fills_with_a_stale_order_books_the_fills_but_keeps_the_newer_order(
        store: RedisStore) -> None:
    o = filled(sent(), ("t1", "10"))
    newer = o.apply(OrderStatusReported(report(OrderStatus.PARTIALLY_FILLED, "30")))
    newer = newer.apply(OrderStatusReported(report(OrderStatus.PARTIALLY_FILLED, "40")))
    assert await store.save_order(newer)
    result = await store.book_fills(o, o.fills, cost_basis={"v": "1"},
                                    counters=TradeCounters())
    assert (result.booked, result.order_saved) == (("t1",), False)
    assert (await store.get_order(COID)) == newer
    assert await booked_ids(store.client, P) == {"t1"}
