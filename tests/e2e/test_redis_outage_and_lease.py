"""A Redis outage pauses trading (no order that cannot be recorded), keeps market data running,
and trading resumes by itself; the outage is logged once. Two engines on one account and
symbol: the second stands by and takes over when the first one's lease goes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
from loguru import logger

from daemon.local_redis import LocalRedis
from daemon.runtime.compose import build_engine
from daemon.runtime.supervisor import Supervisor, cancel_and_wait
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

UNBALANCED = {"QRL": "20000", "USDT": "200"}


@pytest.fixture
def own_redis() -> Iterator[LocalRedis]:
    """A redis-server of this test's own: it gets frozen, so it is not the shared one."""
    with LocalRedis() as server:
        yield server


async def test_outage_pauses_trading_and_recovers(own_redis: LocalRedis) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    cfg = SimConfig(seed=8, speed=600.0, balances=UNBALANCED)
    try:
        async with Simulator(cfg) as sim:
            settings = e2e_settings(sim, own_redis.url, strategy={"threshold": 0.001},
                                    redis={"retry_interval_s": 0.5})
            async with running_engine(settings, sim_creds(sim)) as engine:
                await wait_for(lambda: len(sim.orders()) >= 1, 10, "a first order")
                await wait_for(lambda: engine.executor.in_flight is None, 10, "it to settle")
                assert own_redis.proc is not None
                os.kill(own_redis.proc.pid, signal.SIGSTOP)  # Redis stops answering
                try:
                    await asyncio.sleep(1.0)
                    frozen_at = len(sim.order_requests)
                    price_ms = engine.market.last_price_ms or 0
                    await asyncio.sleep(14.0)  # past the client's timeout and its retry
                    assert len(sim.order_requests) == frozen_at  # nothing sent unrecorded
                    # market data keeps running through the outage
                    assert (engine.market.last_price_ms or 0) > price_ms + 5000
                finally:
                    os.kill(own_redis.proc.pid, signal.SIGCONT)
                started = time.monotonic()
                await wait_for(lambda: len(sim.order_requests) > frozen_at, 30,
                               "trading to resume after the outage")
                assert time.monotonic() - started < 30
    finally:
        logger.remove(sink)
    down = [line for line in lines if "Redis unavailable" in line
            or ("unavailable" in line and "redis" in line.lower())]
    assert down, "the outage was not logged"
    outage_lines = [line for line in lines if "outage" in line.lower() or "is back" in line
                    or "recovered" in line.lower()]
    assert len(outage_lines) <= 6, outage_lines  # once per outage, not every second


async def test_second_instance_stands_by_then_takes_over_after_expiry(redis_url: str) -> None:
    async with Simulator(SimConfig(seed=9, speed=60.0)) as sim:
        settings = e2e_settings(sim, redis_url, redis={"lease_ttl_s": 2})
        first = await build_engine(settings, sim_creds(sim), Supervisor())
        second = await build_engine(settings, sim_creds(sim), Supervisor())
        await first.start()
        run1 = asyncio.create_task(first.run())
        await second.start()
        run2 = asyncio.create_task(second.run())
        try:
            assert first.lease.holds and not second.lease.holds
            await asyncio.sleep(1.5)
            assert not second.lease.holds and second.evaluations == 0  # standby
            # the first one hangs: no more renewals, its lease expires
            await cancel_and_wait([run1])
            started = time.monotonic()
            await wait_for(lambda: second.lease.holds, 6, "the standby to take over")
            assert time.monotonic() - started >= 0.5  # it waited for the expiry
            await wait_for(lambda: second.evaluations >= 1, 5, "the new trader to decide")
        finally:
            for engine, task in ((first, run1), (second, run2)):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await engine.stop()
