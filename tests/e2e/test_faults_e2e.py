"""With the simulator's faults on (5xx, lost order replies, 429s, websocket drops): no order is
sent twice, every exchange fill is booked once, and the daemon keeps running."""

from __future__ import annotations

import asyncio
from collections import Counter

from daemon.sim import Faults, RandomWalkMarket, SimConfig, Simulator
from tests.support.e2e_harness import (
    assert_books_match_exchange,
    e2e_settings,
    running_engine,
    sim_creds,
    wait_for,
)


async def test_faults_no_duplicates_nothing_lost(redis_url: str) -> None:
    faults = Faults(http_5xx_rate=0.08, lost_reply_rate=0.3, rate_limit_rate=0.04,
                    push_duplicate_rate=0.2, retry_after_s=1)
    cfg = SimConfig(seed=21, speed=600.0, balances={"QRL": "20000", "USDT": "1000"},
                    market=RandomWalkMarket(), partial_fill_ratio="0.5", faults=faults)
    async with Simulator(cfg) as sim:
        settings = e2e_settings(sim, redis_url, strategy={"threshold": 0.001},
                                execution={"unknown_order_retries": 4, "order_timeout_s": 1})
        async with running_engine(settings, sim_creds(sim)) as engine:
            run_task = next(t for t in asyncio.all_tasks() if t.get_coro().__qualname__
                            .startswith("RebalancerEngine.run"))
            for _ in range(6):  # websocket drops while trading
                await asyncio.sleep(2.0)
                sim.drop_websockets()
            await wait_for(lambda: len(sim.orders()) >= 5, 40, "five orders through the faults")
            outcomes = Counter(a.outcome.split(":")[0] for a in sim.order_requests)
            sim.faults.http_5xx_rate = sim.faults.lost_reply_rate = 0.0
            sim.faults.rate_limit_rate = 0.0
            await wait_for(lambda: engine.executor is not None
                           and engine.executor.in_flight is None, 20, "orders to settle")
            await asyncio.sleep(1.0)
            assert not run_task.done()  # still running after all of it
        assert outcomes["lost_reply"] >= 1, outcomes
        # A client order id reaches the exchange once, whatever its answer was (5xx, 429,
        # lost reply): an unknown outcome is resolved by querying, never by resending.
        await assert_books_match_exchange(sim, redis_url)
