"""Figures for the order aggregate and the Redis store (private redis-server).

    .venv/bin/python bench/bench_store.py
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from daemon.adapters.redis_records import TradeCounters
from daemon.adapters.redis_store import RedisStore
from daemon.domain.models import Fill, Side
from daemon.domain.orders import OrderAccepted, OrderFilled, OrderSubmitted, new_intent
from daemon.local_redis import LocalRedis


def fill(coid: str, i: int) -> Fill:
    q, p = Decimal("0.5"), Decimal("0.4321")
    return Fill(f"T{coid}-{i}", f"V-{coid}", coid, Side.BUY, p, q, q * p, Decimal("0.001"),
                "USDT", 1_000 + i)


def bench_apply(n_orders: int = 2000, fills_per_order: int = 20) -> None:
    t0 = time.perf_counter()
    events = 0
    for k in range(n_orders):
        coid = f"rb-b{k}-0"
        o = new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", Decimal(10), Decimal("0.5"), 0)
        o = o.apply(OrderSubmitted(1)).apply(OrderAccepted(f"V-{coid}", 2))
        for i in range(fills_per_order):
            o = o.apply(OrderFilled(fill(coid, i)))
        events += 2 + fills_per_order
    dt = time.perf_counter() - t0
    print(f"Order.apply: {events} events in {dt:.2f}s = {dt / events * 1e6:.1f} us/event "
          f"({fills_per_order} fills per order)")


async def bench_store(n: int = 500, cost_ids: int = 0) -> None:
    """``cost_ids``: trade ids the cost basis carries (it is re-sent, and with the books fence
    digested, on every booking: what a long-running daemon writes)."""
    cost: dict[str, object] = {"avg": Decimal("0.4321"),
                               "trade_ids": [f"{i:032x}" for i in range(cost_ids)]}
    with LocalRedis() as server:
        store = RedisStore(server.url, "bench:QRLUSDT:", recent_orders_max=500)
        await store.connect()
        await store.check_schema()
        await store.load_state()  # the view of the books the writes start from
        t_intent = t_book = 0.0
        counters = TradeCounters()
        for k in range(n):
            coid = f"rb-s{k}-0"
            o = new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", Decimal(1), Decimal("0.5"), k)
            t = time.perf_counter()
            await store.write_intent(o)
            t_intent += time.perf_counter() - t
            o = o.apply(OrderAccepted(f"V-{coid}", k)).apply(OrderFilled(fill(coid, 0)))
            o = o.apply(OrderFilled(fill(coid, 1)))
            counters = counters.after_trade(1_763_700_000_000 + k)
            t = time.perf_counter()
            r = await store.book_fills(o, o.fills, cost_basis=cost,
                                       counters=counters, core_floor=Decimal(k))
            t_book += time.perf_counter() - t
            assert r.booked
        t = time.perf_counter()
        state = await store.load_state()
        t_load = time.perf_counter() - t
        print(f"write_intent: {t_intent / n * 1e3:.2f} ms avg; book_fills (2 fills + order + "
              f"cost basis of {cost_ids} trade ids + counters + floor): "
              f"{t_book / n * 1e3:.2f} ms avg (n={n})")
        print(f"load_state: {t_load * 1e3:.1f} ms for {len(state.orders)} orders and "
              f"{len(state.booked_trade_ids)} booked fills")
        await store.close()


if __name__ == "__main__":
    bench_apply()
    asyncio.run(bench_store())
    asyncio.run(bench_store(n=200, cost_ids=10_000))
