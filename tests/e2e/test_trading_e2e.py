"""Daemon + simulator + real Redis over replayed market data: the fills in Redis are exactly the
exchange's myTrades, the cost basis equals a recomputation from them, no order is sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from e2e_harness import (
    e2e_settings,
    exchange_fill_keys,
    fill_key,
    recompute,
    running_engine,
    sim_creds,
    stored_fills,
    wait_for,
)

from daemon.domain.cost_basis import CostBasis
from daemon.sim import ReplayMarket, SimConfig, Simulator


async def test_replay_trades_book_exactly_the_exchange_fills(redis_url: str,
                                                             shared_data: Path) -> None:
    cfg = SimConfig(seed=11, speed=900.0, balances={"QRL": "20000", "USDT": "300"},
                    market=ReplayMarket(path=shared_data / "ETH_BTC-5m.csv", rescale="0.5",
                                        start_index=300),
                    partial_fill_ratio="0.6")
    async with Simulator(cfg) as sim:
        settings = e2e_settings(sim, redis_url)
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: len(sim.orders()) >= 4, 60, "four orders")
            await wait_for(lambda: engine.executor is not None
                           and engine.executor.in_flight is None, 20, "the last order to end")
            await asyncio.sleep(0.5)
        fills, cost_json = await stored_fills(redis_url)
        expected = exchange_fill_keys(sim)
        assert sorted(fill_key(f) for f in fills) == expected
        stored = CostBasis.from_dict(cost_json)
        again = recompute(fills)
        assert (stored.avg_cost, stored.qty, stored.realized_pnl) == \
            (again.avg_cost, again.qty, again.realized_pnl)
        assert stored.trade_ids == {k[0] for k in expected}
        assert len(sim.orders()) >= 4
        assert len(fills) > len(sim.orders())  # partial fills: several per order
        sent = Counter(a.client_order_id for a in sim.order_requests)
        assert sent and max(sent.values()) == 1, sent
        assert {o["clientOrderId"] for o in sim.orders()} == set(sent)
