"""Books Redis holds are never overwritten from a view that is not theirs: every write is
fenced by the lease, the epoch, the books version and a digest of the books' values. A write
from a stale view reloads and computes again; books Redis lost or rolled back, or content
changed behind the daemon's back, are refused with an error naming the full key; keys of the
wrong type are refused when the state is read."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import redis.asyncio as aioredis

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.domain.models import ExchangeRules, Fill, OrderReport, OrderStatus, Side
from daemon.domain.orders import Order, OrderAccepted, OrderFilled, new_intent
from daemon.errors import BooksChanged, BooksLost, LeaseLost, StateError
from daemon.runtime.executor import Executor
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.settings_ref import SettingsRef
from tests.support.store_builders import booked_ids

P = "bot:QRLUSDT:"
RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT", base_precision=2,
                      quote_precision=5, min_qty=D("0.01"), min_notional=D("1"),
                      taker_fee=D("0.0005"))
SETTINGS = SettingsRef(parse_settings({"strategy": {"core_pct": "0.5"}}))


def fill(tid: str, qty: str, price: str) -> Fill:
    q, p = D(qty), D(price)
    return Fill(trade_id=tid, order_id="C02__1", client_order_id="rb-abc-0", side=Side.BUY,
                price=p, qty=q, quote_qty=q * p, fee=D("0"), fee_asset="QRL", time_ms=5)


async def instance(redis_url: str) -> tuple[RedisStore, TradingLease, Ledger]:
    """One daemon's store, lease and ledger (its own connection and view of the books)."""
    store = RedisStore(redis_url, P)
    await store.connect()
    await store.check_schema()
    lease = TradingLease(store, SETTINGS)
    ledger = Ledger(store, SETTINGS, RULES, await store.load_state(), lambda: 1_700_000_000_000,
                    lease_owner=lease.owner)
    return store, lease, ledger


async def placed(ledger: Ledger) -> Order:
    order = new_intent("rb-abc-0", "QRLUSDT", Side.BUY, "LIMIT", D("30"), D("3"), 1)
    await ledger.write_intent(order)
    return order.apply(OrderAccepted("C02__1", 2))


@pytest.fixture
async def raw(redis_url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_takeover_on_a_stale_view_reloads_and_books_on_the_leaders_books(
        redis_url: str) -> None:
    a_store, a_lease, a = await instance(redis_url)
    b_store, b_lease, b = await instance(redis_url)  # the standby reads the books now
    try:
        assert await a_lease.take()
        await a.set_core_floor(D("0"), "init")
        order = (await placed(a)).apply(OrderFilled(fill("t1", "10", "2")))
        await a.record(order)  # the leader books t1; the standby's view is now stale
        await a_lease.release()
        assert await b_lease.take()
        order2 = order.apply(OrderFilled(fill("t2", "20", "3")))
        await b.record(order2)  # refused from the stale view, reloaded, booked on top
        state = await b_store.load_state()
        assert await booked_ids(b_store.client, P) == {"t1", "t2"}
        assert b.cost.qty == D("30")
        assert b.cost.avg_cost is not None
        assert b.cost.avg_cost.quantize(D("0.0001")) == D("2.6667")  # (20 + 60) / 30
        assert state.cost_basis == b.cost.to_dict()
        assert state.core_floor == D("15")  # 0.5 * 10 + 0.5 * 20, neither lost
        assert state.counters.trades_total == 1
        assert b_store.view is not None and state.view.version == b_store.view.version
    finally:
        await a_store.close()
        await b_store.close()


async def test_the_old_leader_cannot_write_once_the_lease_is_gone(redis_url: str) -> None:
    a_store, a_lease, a = await instance(redis_url)
    b_store, b_lease, _ = await instance(redis_url)
    try:
        assert await a_lease.take()
        order = await placed(a)
        await a_store.client.delete(a_store.key("lease"))  # it expired while A was paused
        assert await b_lease.take()
        with pytest.raises(LeaseLost, match=f"{P}lease is held by {b_lease.owner}"):
            await a.record(order.apply(OrderFilled(fill("t1", "10", "2"))))
        state = await b_store.load_state()
        assert await booked_ids(b_store.client, P) == set() and state.cost_basis is None
    finally:
        await a_store.close()
        await b_store.close()


@pytest.mark.parametrize("name", ["cost_basis", "core_floor", "counters"])
async def test_corrupt_content_written_behind_the_daemons_back_is_never_overwritten(
        redis_url: str, raw: aioredis.Redis, name: str) -> None:
    store, lease, ledger = await instance(redis_url)
    try:
        assert await lease.take()
        order = (await placed(ledger)).apply(OrderFilled(fill("t1", "10", "2")))
        await ledger.record(order)
        await raw.set(P + name, "{garbage")
        order2 = order.apply(OrderFilled(fill("t2", "20", "3")))
        for _ in range(2):  # and again: the view of the bad content is never adopted
            with pytest.raises(StateError, match=f"^{P}{name}: not valid JSON"):
                await ledger.record(order2)
        with pytest.raises(StateError, match=f"^{P}{name}: not valid JSON"):
            await ledger.apply_to_known(order.client_order_id, OrderFilled(fill("t2", "20",
                                                                                "3")))
        assert await raw.get(P + name) == b"{garbage"  # left for the operator to see
        assert await booked_ids(raw, P) == {"t1"}  # nothing booked on top
    finally:
        await store.close()


async def test_an_operator_core_set_is_kept_by_the_next_booking(redis_url: str) -> None:
    store, lease, ledger = await instance(redis_url)
    operator = RedisStore(redis_url, P)
    await operator.connect()
    try:
        assert await lease.take()
        await ledger.set_core_floor(D("0"), "init")
        order = (await placed(ledger)).apply(OrderFilled(fill("t1", "10", "2")))
        await ledger.record(order)
        assert ledger.core_floor == D("5")
        await operator.set_core_floor(D("4000"), 1, source="manual")  # `rebalancer core set`
        await ledger.record(order.apply(OrderFilled(fill("t2", "20", "3"))))
        assert ledger.core_floor == D("4010")  # the operator's 4000 + 0.5 * 20
        assert (await store.load_state()).core_floor == D("4010")
    finally:
        await operator.close()
        await store.close()


async def test_books_rolled_back_are_never_written_on(redis_url: str,
                                                      raw: aioredis.Redis) -> None:
    store, lease, ledger = await instance(redis_url)
    try:
        assert await lease.take()
        order = (await placed(ledger)).apply(OrderFilled(fill("t1", "10", "2")))
        await ledger.record(order)
        keys = [k async for k in raw.scan_iter(match=P + "*") if not k.endswith(b"lease")]
        snapshot = {k: await raw.dump(k) for k in keys}  # a snapshot of Redis, now
        order = order.apply(OrderFilled(fill("t2", "5", "2")))
        await ledger.record(order)
        for k, dumped in snapshot.items():  # Redis comes back from the older snapshot
            await raw.restore(k, 0, dumped, replace=True)
        with pytest.raises(BooksLost, match=f"{P}books went back from 3 to 2"):
            await ledger.record(order.apply(OrderFilled(fill("t3", "5", "2"))))
        with pytest.raises(BooksLost):
            await ledger.record(order.apply(OrderFilled(fill("t3", "5", "2"))))  # and again
        assert await booked_ids(raw, P) == {"t1"}  # the snapshot, untouched
    finally:
        await store.close()


async def test_books_wiped_are_never_written_on(redis_url: str, raw: aioredis.Redis) -> None:
    store, lease, ledger = await instance(redis_url)
    try:
        assert await lease.take()
        order = (await placed(ledger)).apply(OrderFilled(fill("t1", "10", "2")))
        await ledger.record(order)
        await raw.flushdb()  # Redis restarted without persistence
        # the lease can be taken again in the empty Redis; the books cannot come back
        assert await RedisLease(store).acquire(lease.owner, 30)
        with pytest.raises(BooksLost, match=f"{P}epoch is missing"):
            await ledger.record(order.apply(OrderFilled(fill("t2", "5", "2"))))
        assert sorted(await raw.keys(P + "*")) in ([], [P.encode() + b"lease"])
    finally:
        await store.close()


async def test_a_write_from_a_stale_view_is_refused_by_redis(redis_url: str) -> None:
    a_store, _, _ = await instance(redis_url)
    b_store, _, _ = await instance(redis_url)
    try:
        await a_store.set_core_floor(D("1"), 1, source="init")
        with pytest.raises(BooksChanged, match=f"{P}books is 1, the writer read 0"):
            await b_store.set_core_floor(D("2"), 2, source="init")
        assert (await a_store.load_state()).core_floor == D("1")
    finally:
        await a_store.close()
        await b_store.close()


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("cost_basis", "list", "string"), ("counters", "list", "string"),
    ("balances", "hash", "string"), ("last_plan", "set", "string"),
    ("core_floor", "list", "string"), ("halted", "list", "string"),
    ("epoch", "list", "string"), ("books", "hash", "string"),
    ("plan_history", "string", "list"), ("orders:closed", "list", "zset"),
    ("orders", "string", "hash"), ("orders:open", "string", "set"),
])
async def test_a_key_of_the_wrong_type_is_refused_naming_it(
        redis_url: str, raw: aioredis.Redis, name: str, kind: str, expected: str) -> None:
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await store.check_schema()
        await raw.delete(P + name)
        if kind == "list":
            await raw.rpush(P + name, "x")
        elif kind == "hash":
            await raw.hset(P + name, "x", "y")
        elif kind == "set":
            await raw.sadd(P + name, "x")
        else:
            await raw.set(P + name, "x")
        with pytest.raises(StateError, match=f"^{P}{name}: holds a {kind}, expected a "
                                             f"{expected}$"):
            await store.load_state()
    finally:
        await store.close()


async def test_books_written_before_the_fence_get_an_epoch_and_a_version(
        redis_url: str, raw: aioredis.Redis) -> None:
    await raw.set(P + "schema", "1")  # a prefix written by the previous release
    await raw.set(P + "core_floor", '{"qty": "7", "updated_ms": 1, "source": "manual"}')
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await store.check_schema()
        epoch = await raw.get(P + "epoch")
        assert epoch is not None and len(epoch) == 16
        assert await raw.get(P + "books") == b"0"
        state = await store.load_state()
        assert state.core_floor == D("7") and state.view.version == 0
        await store.check_schema()  # again: nothing changes
        assert await raw.get(P + "epoch") == epoch
        await store.set_core_floor(D("8"), 2, source="init")
        assert await raw.get(P + "books") == b"1"
    finally:
        await store.close()


async def test_a_cost_basis_that_cannot_be_read_names_its_key(redis_url: str,
                                                              raw: aioredis.Redis) -> None:
    store, lease, ledger = await instance(redis_url)
    try:
        assert await lease.take()
        order = (await placed(ledger)).apply(OrderFilled(fill("t1", "10", "2")))
        await ledger.record(order)
        await raw.set(P + "cost_basis", '{"v": 99}')
        for _ in range(2):
            with pytest.raises(StateError, match=f"^{P}cost_basis: cost basis.v: unknown"):
                await ledger.record(order.apply(OrderFilled(fill("t2", "20", "3"))))
        assert await raw.get(P + "cost_basis") == b'{"v": 99}'
    finally:
        await store.close()


async def test_books_created_empty_after_a_wipe_are_not_adopted(redis_url: str,
                                                                raw: aioredis.Redis) -> None:
    store, lease, ledger = await instance(redis_url)
    try:
        assert await lease.take()
        await ledger.record((await placed(ledger)).apply(OrderFilled(fill("t1", "10", "2"))))
        await raw.flushdb()
        other = RedisStore(redis_url, P)  # another start creates a new, empty prefix
        await other.connect()
        await other.check_schema()
        await other.close()
        with pytest.raises(BooksLost, match=f"^{P}epoch is \\w+, new and empty"):
            await ledger.reload_all()
        assert ledger.booked == {"t1"}  # the books it held are kept, nothing adopted
        await raw.set(P + "books", "1")  # as `state rebuild` installs them
        await ledger.reload_all()
        assert ledger.booked == set()
    finally:
        await store.close()


async def test_a_schema_key_of_the_wrong_type_is_not_books_lost(redis_url: str,
                                                                raw: aioredis.Redis) -> None:
    store, _, _ = await instance(redis_url)
    try:
        await raw.delete(P + "schema")
        await raw.rpush(P + "schema", "1")
        with pytest.raises(StateError, match=f"^{P}schema: holds a list, expected a string$"):
            await store.books_marker()
    finally:
        await store.close()


async def test_a_prefix_holding_only_what_is_not_books_gets_new_books(
        redis_url: str, raw: aioredis.Redis) -> None:
    for name in ("lease", "heartbeat", "halted", "last_plan"):
        await raw.set(P + name, "{}")
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await store.check_schema()
        assert await raw.get(P + "schema") == b"3"
        assert await raw.get(P + "halted") == b"{}"  # left alone
    finally:
        await store.close()


async def test_a_push_the_fence_refuses_stops_trading_not_the_stream(
        redis_url: str, raw: aioredis.Redis) -> None:
    store, lease, ledger = await instance(redis_url)
    try:
        assert await lease.take()
        order = await placed(ledger)
        await ledger.record(order)
        executor = Executor(SETTINGS, MexcRest(SETTINGS.current.exchange, None), ledger,
                            lambda: 1_700_000_000_000, lease)
        await raw.set(P + "lease", "another-host:1:abcd")  # taken over behind its back
        filled = Fill(trade_id="t9", order_id="C02__1", client_order_id="rb-abc-0",
                      side=Side.BUY, price=D("2"), qty=D("30"), quote_qty=D("60"),
                      fee=D("0"), fee_asset="QRL", time_ms=5)
        await executor.on_report(OrderReport(  # returns: the stream goes on
            symbol="QRLUSDT", order_id="C02__1", client_order_id="rb-abc-0", side=Side.BUY,
            order_type="LIMIT", status=OrderStatus.FILLED, price=D("2"), orig_qty=D("30"),
            executed_qty=D("30"), cum_quote_qty=D("60"), time_ms=3, update_time_ms=4))
        assert lease.phase is Phase.STANDBY and not lease.valid_now()
        await executor.on_fill(filled)  # without the lease: ignored, no exchange call
        assert await booked_ids(raw, P) == set()
    finally:
        await store.close()
