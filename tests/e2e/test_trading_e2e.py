"""Daemon + simulator + real Redis over replayed market data: the fills in Redis are exactly the
exchange's myTrades, the cost basis equals a recomputation from them, no order is sent twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.sim import ReplayMarket, SimConfig, Simulator
from tests.support.e2e_harness import (
    assert_books_match_exchange,
    e2e_settings,
    running_engine,
    sim_creds,
    wait_for,
)


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
        fills = await assert_books_match_exchange(sim, redis_url)
        assert len(sim.orders()) >= 4
        assert len(fills) > len(sim.orders())  # partial fills: several per order
        sent = {a.client_order_id for a in sim.order_requests}
        assert {o["clientOrderId"] for o in sim.orders()} == sent
