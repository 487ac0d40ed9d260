"""What booking a fill, loading the books at startup and an evaluation's scan of the order
ledger cost as the history grows, each against the same operation at 10 (issue 20).

A private redis-server; the daemon's own Ledger over the RedisStore (``Ledger.record``: the
booking rule, the cost basis, core floor and counters, the one atomic script), so the cost
basis is what the daemon writes (before schema 3 it carried every booked trade id: then the
bench stores one holding all of them). The history is booked first through the store's booking
script (``RedisStore.book_fills``, orders of ``--fills-per-order`` fills one every 10 minutes
over the 3 years before now, a small cost basis so that the setup is quick), then the daemon's
cost basis is stored (``set_cost_basis``) and the Ledger loads the books as the daemon's
startup does (daemon.runtime.compose).
At each N (fills booked before):

  book one fill      ``Ledger.record`` of a new order with 2 fills (timed per booking)
  load_state         ``RedisStore.load_state`` + the Ledger built from it (a startup)
  evaluation scan    what every evaluation and execution run over the in-memory order ledger
                     (``unsettled()`` and ``next_attempt()``) of one long-lived process that
                     recorded N ended orders through ``Ledger.record``

Each printed with its ratio to N = 10 (the floor, same run) and the per-round range; target
<= 1.5x at the largest N. A figure that grows with N is the cost issue 20 names.
Run: .venv/bin/python bench/bench_store.py [--sizes 10 1000 10000 100000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import redis.asyncio as aioredis
from benchkit import Verdict, daemon_logs_to_devnull, num, spread, verdict

from daemon.adapters.redis_records import TradeCounters
from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import ExchangeRules, Fill, Side
from daemon.domain.orders import Order, OrderAccepted, OrderCanceled, OrderFilled, new_intent
from daemon.local_redis import LocalRedis
from daemon.runtime.ledger import Ledger
from daemon.runtime.order_index import load_window
from daemon.runtime.settings_ref import SettingsRef

RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT", base_precision=2,
                      quote_precision=5, min_qty=Decimal("0.01"), min_notional=Decimal("1"),
                      taker_fee=Decimal("0.0005"))
SETTINGS = SettingsRef(parse_settings({}))
PREFIX = "bench:QRLUSDT:"
NOW_MS = 1_763_700_000_000
SPACING_MS = 10 * 60_000  # the history's orders, one every 10 minutes (a 15-minute daemon's)
START_MS = NOW_MS - 3 * 365 * 86_400_000  # ... over the 3 years before now: 157,680 fit


def fill(coid: str, tid: str, t: int) -> Fill:
    q, p = Decimal("0.5"), Decimal("0.4321")
    return Fill(tid, f"V-{coid}", coid, Side.BUY, p, q, q * p, Decimal("0.0005"), "QRL", t)


def filled_order(coid: str, trade_ids: list[str], t: int) -> Order:
    """A BUY of 0.5 per fill, accepted and completely filled by ``trade_ids``."""
    qty = Decimal("0.5") * len(trade_ids)
    o = new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", qty, Decimal("0.5"), t)
    o = o.apply(OrderAccepted(f"V-{coid}", t))
    for tid in trade_ids:
        o = o.apply(OrderFilled(fill(coid, tid, t)))
    return o


class History:
    """Fills booked so far through the store's booking script (the quick pre-fill)."""

    def __init__(self, store: RedisStore, per_order: int) -> None:
        self.store, self.per_order = store, per_order
        self.trade_ids: list[str] = []
        self.orders = 0
        self.seed = CostBasis()  # the cost basis of the first fills, as the daemon computes it

    async def grow_to(self, n: int) -> None:
        small = {"avg": "0.4321"}  # constant while pre-filling: what makes the setup quick
        counters = TradeCounters()
        while len(self.trade_ids) < n:
            k = self.orders
            ids = [f"{len(self.trade_ids) + i:032x}"
                   for i in range(min(self.per_order, n - len(self.trade_ids)))]
            order = filled_order(f"rb-p{k}-0", ids, START_MS + k * SPACING_MS)
            counters = counters.after_trade(START_MS + k * SPACING_MS)
            await self.store.book_fills(order, order.fills, cost_basis=small, counters=counters)
            if len(self.trade_ids) < 4:
                for f in order.fills:
                    self.seed = self.seed.apply(f, base_asset="QRL", quote_asset="USDT")
            self.trade_ids += ids
            self.orders += 1
        # the daemon's cost basis after these fills: the numbers of the first ones, the
        # trade ids of all (what a daemon that booked them all carries and re-sends)
        cost = self.seed
        if hasattr(cost, "trade_ids"):
            cost = dataclasses.replace(cost, trade_ids=frozenset(self.trade_ids))
        await self.store.set_cost_basis(cost.to_dict())
        await self.store.load_state()  # the store's view after the operator write


async def settled(client: aioredis.Redis) -> None:
    """Redis done with the setup's writes: no AOF rewrite running or scheduled (a rewrite after
    the bulk booking competes with what is timed next), then a second of quiet."""
    while True:
        info = await client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    t = time.perf_counter()
    await fn()
    return (time.perf_counter() - t) * 1000


async def startup(store: RedisStore) -> Ledger:
    """What the daemon's startup loads (daemon.runtime.compose), and its Ledger."""
    window = load_window(NOW_MS, SETTINGS.current.execution.lost_order_watch_s)
    state = await store.load_state(recent=window.recent, since_ms=window.since_ms)
    return Ledger(store, SETTINGS, RULES, state, lambda: NOW_MS)


async def bookings(ledger: Ledger, rounds: int, tag: str, t0: int) -> list[float]:
    """ms per ``Ledger.record`` of a new 2-fill order (the write-ahead untimed), the orders
    10 minutes apart from ``t0`` (the history's next times: were they at now, the orders of
    every earlier size would pile up inside the startup's window of recent orders)."""
    out = []
    for r in range(rounds):
        coid = f"rb-{tag}x{r}-0"
        t = t0 + r * SPACING_MS
        intent = new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", Decimal(1), Decimal("0.5"), t)
        await ledger.write_intent(intent)
        order = filled_order(coid, [f"{tag}-{r}-a", f"{tag}-{r}-b"], t)
        out.append(await timed(lambda o=order: ledger.record(o)))  # type: ignore[misc]
    return out


class Placed:
    """Orders ever placed by one long-lived process: each ended order recorded through
    ``Ledger.record`` (cancelled without a fill: only the order is saved, one script call; an
    order's fills do not change what the scan reads), as a daemon that has run for months has
    recorded them; ``scan`` times what every evaluation and
    execution run over the ledger's orders (``unsettled()`` and ``next_attempt()``). Its own
    key prefix, so that the setup is quick (its books stay small)."""

    def __init__(self, store: RedisStore) -> None:
        self.store, self.count = store, 0

    async def start(self) -> None:
        await self.store.connect()
        await self.store.check_schema()
        self.ledger = await startup(self.store)
        await self.ledger.write_intent(new_intent("rb-e0-0", "QRLUSDT", Side.BUY, "LIMIT",
                                                  Decimal("0.5"), Decimal("0.5"), NOW_MS))

    async def grow_to(self, n: int) -> None:
        while self.count < n:
            coid = f"rb-e{self.count}-0"
            t = NOW_MS + self.count
            order = new_intent(coid, "QRLUSDT", Side.BUY, "LIMIT", Decimal("0.5"),
                               Decimal("0.5"), t)
            order = order.apply(OrderAccepted(f"V-{coid}", t)).apply(OrderCanceled(t))
            await self.ledger.record(order)
            self.count += 1

    async def scan(self, rounds: int) -> list[float]:
        """us per scan, ``rounds`` times."""
        ledger = self.ledger
        reps = max(3, 200_000 // max(self.count, 1))
        out = []
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(reps):
                ledger.unsettled()
                await ledger.next_attempt("zzz")
            out.append((time.perf_counter() - t) / reps * 1e6)
        return out


async def main(sizes: list[int], rounds: int, per_order: int) -> int:
    daemon_logs_to_devnull()
    rows: dict[str, dict[int, list[float]]] = {"book": {}, "load": {}, "scan": {}}
    with LocalRedis() as server:
        store = RedisStore(server.url, PREFIX, recent_orders_max=500)
        await store.connect()
        await store.check_schema()
        await store.load_state()
        history = History(store, per_order)
        placed = Placed(RedisStore(server.url, "bench:placed:", recent_orders_max=500))
        await placed.start()
        try:
            for n in sizes:
                t = time.perf_counter()
                await history.grow_to(n)
                await placed.grow_to(n)
                setup_s = time.perf_counter() - t
                await settled(store.client)
                loads = [await timed(lambda: startup(store)) for _ in range(rounds)]
                ledger = await startup(store)
                rows["load"][n] = loads
                rows["book"][n] = await bookings(ledger, rounds, f"n{n}",
                                                START_MS + history.orders * SPACING_MS)
                rows["scan"][n] = await placed.scan(max(3, rounds // 3))
                med = {k: statistics.median(v[n]) for k, v in rows.items()}
                print(f"N={n:>7}: {len(history.trade_ids)} fills booked in {history.orders} "
                      f"orders, {placed.count} orders placed by one process (setup "
                      f"{setup_s:.1f} s); book {med['book']:.2f} ms, load_state "
                      f"{med['load']:.1f} ms, evaluation scan {med['scan']:.1f} us", flush=True)
        finally:
            await store.close()
            await placed.store.close()
    return report(rows, sizes)


NAMES = {"book": ("book one fill", "ms", "fills booked"),
         "load": ("load_state at startup", "ms", "fills booked"),
         "scan": ("evaluation scan of the order ledger", "us", "orders placed")}


def report(rows: dict[str, dict[int, list[float]]], sizes: list[int]) -> int:
    base, top = sizes[0], sizes[-1]
    print(f"\n{'':38}" + "".join(f"{f'N={n:,}':>12}" for n in sizes) + f"{'ratio':>8}")
    ok = True
    for key, (name, unit, what) in NAMES.items():
        floor = statistics.median(rows[key][base])
        meds = [statistics.median(rows[key][n]) for n in sizes]
        print(f"{name + f' ({unit})':38}" + "".join(f"{num(m):>12}" for m in meds)
              + f"{num(meds[-1] / floor):>7}x")
        per_round = [x / floor for x in rows[key][top]]
        ok &= verdict(Verdict(
            "bench_store", f"{name}, {top:,} {what} vs {base:,}",
            f"{num(meds[-1])} {unit}", f"{num(floor)} {unit} at {base:,}",
            f"{num(meds[-1] / floor)}x", spread(per_round), "<= 1.5x", meds[-1] / floor <= 1.5))
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000, 100_000],
                    help="fills booked (and orders placed) before each measurement")
    ap.add_argument("--rounds", type=int, default=15, help="bookings timed at each size")
    ap.add_argument("--fills-per-order", type=int, default=4, help="in the pre-fill")
    a = ap.parse_args()
    if sorted(a.sizes) != a.sizes or a.sizes[0] < 1 or a.rounds < 3:
        ap.error("--sizes: increasing, from 1 up; --rounds: 3 or more")
    sys.exit(asyncio.run(main(a.sizes, a.rounds, a.fills_per_order)))
