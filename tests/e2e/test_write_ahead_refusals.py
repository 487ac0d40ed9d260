"""Decisions read the halt flag and the books from memory (issue 20); the write-ahead script
is the authority. With the memory stale (a slow heartbeat), an operator's `rebalancer halt`,
a lease taken by another instance and `rebalancer core set` are each honoured before the next
POST: the script refuses, nothing is sent, the decision is made again on what Redis holds (or,
the lease lost, not at all). The real engine against the simulator and a real Redis; the
operator commands are the real CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from daemon.cli import main
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.lease import Phase
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

P = "bot:QRLUSDT:"
UNBALANCED = {"QRL": "20000", "USDT": "200"}  # every decision wants to sell


async def cli(*args: str) -> int:
    """The CLI runs its own event loop (asyncio.run): call it from a thread."""
    return await asyncio.to_thread(main, list(args))


@asynccontextmanager
async def deciding_on_demand(redis_url: str, heartbeat_s: float = 30) -> AsyncIterator[
        tuple[Simulator, RebalancerEngine]]:
    """An engine that decides only when a test triggers it, its heartbeat (which reads the
    halt flag and the books marker) slow enough to leave its memory stale."""
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url, schedule={"interval_s": 3600,
                                                          "evaluate_on_crossover": False},
                                health={"heartbeat_interval_s": heartbeat_s},
                                redis={"lease_ttl_s": 120})
        async with running_engine(settings, sim_creds(sim)) as engine:
            client = aioredis.Redis.from_url(redis_url)
            try:  # the heartbeat's first tick (at once) is over
                await wait_for_key(client, P + "heartbeat")
            finally:
                await client.aclose()
            yield sim, engine


async def wait_for_key(client: aioredis.Redis, key: str) -> None:
    for _ in range(100):
        if await client.exists(key):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} never written")


def cli_config(tmp_path: Path, redis_url: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    return str(path)


async def plans(engine: RebalancerEngine, n: int) -> list[tuple[Any, Any, Any]]:
    return [(p["action"], p["reason_code"], p["trigger"])
            for p in await engine.store.plan_history(n)]


async def test_a_halt_the_memory_has_not_seen_is_honoured_before_the_post(
        redis_url: str, tmp_path: Path) -> None:
    async with deciding_on_demand(redis_url) as (sim, engine):
        assert await cli("halt", "-c", cli_config(tmp_path, redis_url), "--reason", "t") == 0
        assert engine.halt is None  # not read yet
        engine.scheduler.trigger("test")
        await wait_for(lambda: engine.last_plan is not None
                       and engine.last_plan.reason_code == "halted", 5, "a halted HOLD")
        assert engine.halt is not None and engine.halt.reason == "t"
        assert await plans(engine, 3) == [("HOLD", "halted", "halted"),
                                          ("SELL", "rebalance_sell", "test")]
        assert sim.order_requests == []
        assert await cli("resume", "-c", cli_config(tmp_path, redis_url)) == 0
        engine.scheduler.trigger("test")  # the memory says halted: the decision reads Redis
        await wait_for(lambda: len(sim.order_requests) == 1, 5, "an order after resume")


async def test_a_lease_lost_behind_the_memory_never_trades(redis_url: str) -> None:
    async with deciding_on_demand(redis_url) as (sim, engine):
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.set(P + "lease", "otherhost:1:bbbb", px=120_000)
        finally:
            await client.aclose()
        assert engine.lease.phase is Phase.TRADING  # not renewed since
        engine.scheduler.trigger("test")
        await wait_for(lambda: engine.lease.phase is Phase.STANDBY, 5, "standby")
        assert sim.order_requests == []
        assert await plans(engine, 2) == [("SELL", "rebalance_sell", "test")]


async def test_core_set_behind_the_memory_is_fenced_and_decided_again(redis_url: str,
                                                           tmp_path: Path) -> None:
    async with deciding_on_demand(redis_url) as (sim, engine):
        await engine.ledger.set_core_floor(Decimal(0), "init")
        assert await cli("core", "set", "100000", "-c", cli_config(tmp_path, redis_url)) == 0
        assert engine.ledger.core_floor == 0  # not read yet
        engine.scheduler.trigger("test")  # decided on floor 0: refused by the fence
        await wait_for(lambda: len(sim.order_requests) == 1, 5, "the order decided again")
        assert engine.ledger.core_floor == Decimal(100000)  # reloaded on the refusal
        assert await plans(engine, 3) == [("SELL", "rebalance_sell", "books_changed"),
                                          ("SELL", "rebalance_sell", "test")]


async def test_the_heartbeat_brings_an_operators_core_floor_into_memory(
        redis_url: str, tmp_path: Path) -> None:
    async with deciding_on_demand(redis_url, heartbeat_s=0.2) as (_, engine):
        await engine.ledger.set_core_floor(Decimal(0), "init")
        assert await cli("core", "set", "1234.5", "-c", cli_config(tmp_path, redis_url)) == 0
        await wait_for(lambda: engine.ledger.core_floor == Decimal("1234.5"), 3,
                       "the floor reloaded by the heartbeat, no decision made")
        assert engine.evaluations == 0
