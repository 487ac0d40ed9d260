"""The ledger holds the live orders and the newest few ended ones (issue 20): memory, the scan of
every evaluation and the startup load stay the same size however many orders were placed, and
an order memory no longer holds is still never booked twice."""

from __future__ import annotations

from decimal import Decimal as D

from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.domain.models import ExchangeRules, OrderReport, OrderStatus, Side
from daemon.domain.orders import (
    Order,
    OrderAccepted,
    OrderFilled,
    OrderMarkedLost,
    OrderStatusReported,
    new_intent,
)
from daemon.runtime.ledger import Ledger
from daemon.runtime.order_index import RECENT_ENDED, OrderIndex, load_window
from daemon.runtime.settings_ref import SettingsRef
from tests.support.store_builders import booked_ids, fill

P = "bot:QRLUSDT:"
RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT", base_precision=2,
                      quote_precision=5, min_qty=D("0.01"), min_notional=D("1"),
                      taker_fee=D("0.0005"))
SETTINGS = SettingsRef(parse_settings({}))
NOW = 1_763_700_000_000


def filled(coid: str, tid: str, t: int) -> Order:
    o = new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", D("1"), D("0.5"), t)
    o = o.apply(OrderAccepted(f"V-{coid}", t + 1))
    return o.apply(OrderFilled(fill(tid, "1", coid=coid, order_id=f"V-{coid}", time_ms=t + 2)))


async def ledger_on(store: RedisStore) -> Ledger:
    window = load_window(NOW + 7_200_000, 3600)  # two hours later: no order within the watch
    state = await store.load_state(recent=window.recent, since_ms=window.since_ms)
    return Ledger(store, SETTINGS, RULES, state, lambda: NOW)


async def test_memory_holds_the_live_orders_and_the_newest_ended_ones(
        redis_url: str) -> None:
    store = RedisStore(redis_url, P)
    await store.connect()
    await store.check_schema()
    try:
        ledger = await ledger_on(store)
        open_one = new_intent("rb-open-0", "QRLUSDT", Side.SELL, "LIMIT", D("1"), D("9"), NOW)
        await ledger.write_intent(open_one)
        for i in range(40):
            coid = f"rb-c{i}-{i % 3}"
            await ledger.write_intent(new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", D("1"),
                                                 D("0.5"), NOW + i * 10))
            await ledger.record(filled(coid, f"t{i}", NOW + i * 10))
        assert len(ledger.orders) == RECENT_ENDED + 1  # the open one and the newest ended
        assert sorted(ledger.orders) == sorted(
            ["rb-open-0"] + [f"rb-c{i}-{i % 3}" for i in range(30, 40)])
        assert [o.client_order_id for o in ledger.unsettled()] == ["rb-open-0"]
        assert await ledger.next_attempt("c39") == 1 and await ledger.next_attempt("zz") == 0
        assert ledger.cost.fills == 40 and len(await booked_ids(store.client, P)) == 40
        # a restart loads the live orders and the newest ended one
        again = await ledger_on(store)
        assert sorted(again.orders) == ["rb-c39-0", "rb-open-0"]
        # an order memory dropped, reported again (a reconcile adopting it): booked already,
        # nothing twice, and the books do not move
        before = (again.cost, again.counters)
        await again.record(filled("rb-c0-0", "t0", NOW))
        assert (again.cost, again.counters) == before
        assert len(await booked_ids(store.client, P)) == 40
    finally:
        await store.close()


def test_a_lost_order_stays_while_it_is_watched() -> None:
    lost = new_intent("rb-lost-0", "QRLUSDT", Side.BUY, "LIMIT", D("1"), D("0.5"), NOW)
    lost = lost.apply(OrderMarkedLost("not found", NOW))
    index = OrderIndex({"rb-lost-0": lost}, now_ms=NOW, lost_watch_s=3600)
    for i in range(RECENT_ENDED + 5):
        index.put(filled(f"rb-d{i}-0", f"t{i}", NOW + i), now_ms=NOW + 1000, lost_watch_s=3600)
    assert "rb-lost-0" in index and len(index) == RECENT_ENDED  # the oldest, yet kept
    index.put(filled("rb-late-0", "tl", NOW + 99), now_ms=NOW + 3_600_000, lost_watch_s=3600)
    assert "rb-lost-0" not in index and len(index) == RECENT_ENDED  # watched long enough
    assert "rb-late-0" in index


def test_an_ended_order_owing_fills_stays_unsettled() -> None:
    o = new_intent("rb-owe-0", "QRLUSDT", Side.BUY, "LIMIT", D("2"), D("0.5"), NOW)
    o = o.apply(OrderAccepted("V-owe", NOW + 1)).apply(OrderStatusReported(OrderReport(
        order_id="V-owe", client_order_id="rb-owe-0", symbol="QRLUSDT", side=Side.BUY,
        order_type="LIMIT", status=OrderStatus.FILLED, price=D("0.5"), orig_qty=D("2"),
        executed_qty=D("2"), cum_quote_qty=D("1"), time_ms=NOW, update_time_ms=NOW + 2)))
    assert o.is_terminal and o.unbooked_qty == D("2")
    index = OrderIndex({}, now_ms=NOW)
    index.put(o, now_ms=NOW, lost_watch_s=0)
    for i in range(RECENT_ENDED * 2):
        index.put(filled(f"rb-e{i}-0", f"t{i}", NOW + i), now_ms=NOW, lost_watch_s=0)
    assert [x.client_order_id for x in index.unsettled()] == ["rb-owe-0"]
    assert "rb-owe-0" in index


async def test_an_order_owing_fills_is_loaded_at_restart_however_old(redis_url: str) -> None:
    """It is listed with the unsettled orders in Redis (``P orders:open``), not only in memory:
    a restart follows it until its fills are booked, whatever ended after it."""
    store = RedisStore(redis_url, P)
    await store.connect()
    await store.check_schema()
    try:
        ledger = await ledger_on(store)
        owe = new_intent("rb-owe-0", "QRLUSDT", Side.BUY, "LIMIT", D("2"), D("0.5"), NOW)
        await ledger.write_intent(owe)
        owe = owe.apply(OrderAccepted("V-owe", NOW + 1)).apply(OrderStatusReported(OrderReport(
            order_id="V-owe", client_order_id="rb-owe-0", symbol="QRLUSDT", side=Side.BUY,
            order_type="LIMIT", status=OrderStatus.FILLED, price=D("0.5"), orig_qty=D("2"),
            executed_qty=D("2"), cum_quote_qty=D("1"), time_ms=NOW, update_time_ms=NOW + 2)))
        await ledger.record(owe)
        for i in range(5):
            coid = f"rb-n{i}-0"
            await ledger.write_intent(new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", D("1"),
                                                 D("0.5"), NOW + 10 + i))
            await ledger.record(filled(coid, f"n{i}", NOW + 10 + i))
        assert await store.client.smembers(P + "orders:open") == {b"rb-owe-0"}
        state = await store.load_state(recent=0, since_ms=NOW + 3_600_000)
        assert sorted(state.orders) == ["rb-owe-0"] and state.open_orders == []
        again = await ledger_on(store)
        assert [o.client_order_id for o in again.unsettled()] == ["rb-owe-0"]
    finally:
        await store.close()
