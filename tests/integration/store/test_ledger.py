"""The ledger books fills exactly once with the cost basis, core floor and counters, and never
lets a stale copy of the books overwrite what Redis holds (a booking whose reply was lost)."""

from __future__ import annotations

from decimal import Decimal as D

from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.domain.models import ExchangeRules, Fill, Side
from daemon.domain.orders import Order, OrderAccepted, OrderFilled, new_intent
from daemon.runtime.ledger import Ledger
from daemon.runtime.settings_ref import SettingsRef
from tests.support.store_builders import booked_ids

RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT", base_precision=2,
                      quote_precision=5, min_qty=D("0.01"), min_notional=D("1"),
                      taker_fee=D("0.0005"))
SETTINGS = parse_settings({"strategy": {"core_pct": "0.5"}})
P = "bot:QRLUSDT:"


def fill(tid: str, qty: str, price: str) -> Fill:
    q, p = D(qty), D(price)
    return Fill(trade_id=tid, order_id="C02__1", client_order_id="rb-abc-0", side=Side.BUY,
                price=p, qty=q, quote_qty=q * p, fee=D("0"), fee_asset="QRL", time_ms=5)


async def ledger_on(store: RedisStore, now: int = 1_700_000_000_000) -> Ledger:
    return Ledger(store, SettingsRef(SETTINGS), RULES, await store.load_state(), lambda: now)


async def test_stale_copy_reloads_instead_of_overwriting(redis_url: str) -> None:
    store = RedisStore(redis_url, "bot:QRLUSDT:")
    await store.connect()
    await store.check_schema()
    try:
        a = await ledger_on(store)
        b = await ledger_on(store)  # a second copy of the same books, soon stale
        await a.set_core_floor(D("100"), "manual")
        order: Order = new_intent("rb-abc-0", "QRLUSDT", Side.BUY, "LIMIT", D("30"), D("3"), 1)
        await a.write_intent(order)
        order = order.apply(OrderAccepted("C02__1", 2)).apply(OrderFilled(fill("t1", "10",
                                                                                 "2")))
        await a.record(order)  # books t1
        order2 = order.apply(OrderFilled(fill("t2", "20", "3")))
        await b.record(order2)  # b never saw t1 booked: Redis says "already", b reloads
        state = await store.load_state()
        assert await booked_ids(store.client, P) == {"t1", "t2"}
        assert b.booked == {"t1", "t2"}
        # avg = (10*2 + 20*3) / 30 = 2.666..; both fills count, neither twice
        assert b.cost.qty == D("30") and b.cost.avg_cost is not None
        assert b.cost.avg_cost.quantize(D("0.0001")) == D("2.6667")
        # core floor: 100 set by the operator, +0.5 * 10 (t1) +0.5 * 20 (t2)
        assert b.core_floor == D("115")
        assert state.core_floor == D("115")
        assert state.counters.trades_total == 1  # one order traded, however many fills
        await b.record(order2)  # again: nothing changes
        assert await booked_ids(store.client, P) == {"t1", "t2"}
    finally:
        await store.close()


async def test_operator_core_floor_is_read_back(redis_url: str) -> None:
    store = RedisStore(redis_url, "bot:QRLUSDT:")
    await store.connect()
    await store.check_schema()
    try:
        ledger = await ledger_on(store)
        await store.set_core_floor(D("4321"), 1, source="manual")  # `rebalancer core set`
        assert ledger.core_floor is None
        await ledger.refresh_core_floor()
        assert ledger.core_floor == D("4321")
    finally:
        await store.close()
