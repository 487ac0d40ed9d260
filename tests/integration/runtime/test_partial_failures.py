"""The real engine (simulator over HTTP, real Redis) stays whole when one piece fails.

A reload is all or nothing: new averages whose candle window cannot be built (the exchange
refuses the klines backfill) are refused with the reason and change nothing (not the settings
the planner reads, not the window, not the notification URLs), so that ``rebalancer reload``
never reports "applied" for a config the daemon only half took, and the same reload can be
tried again. A heartbeat that cannot be written does not keep the halt policy from running."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from daemon.adapters.redis_records import Halt
from daemon.errors import RebalancerError
from daemon.sim import BadReply, SimConfig, Simulator
from tests.support.e2e_harness import (
    e2e_settings,
    running_engine,
    sim_creds,
    warning_messages,
)


async def test_new_averages_that_cannot_start_change_nothing(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    async with Simulator(SimConfig(seed=3)) as sim:
        settings = e2e_settings(sim, redis_url, schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            market = engine.market
            assert market.window.ma_long is not None and market.running
            wanted = settings.model_copy(update={
                "strategy": settings.strategy.model_copy(update={"ma_short": 5, "ma_long": 30}),
                "schedule": settings.schedule.model_copy(update={"interval_s": 1800})})
            sim.faults.bad_replies = (BadReply("GET /api/v3/klines", "code", first=0,
                                               code=700007),)
            with pytest.raises(RebalancerError, match="new candle window could not start"):
                await engine.apply_settings(wanted)
            assert engine.settings.current is settings  # nothing half-applied
            assert engine.market is market and market.running
            assert (market.window.short, market.window.long) == (
                settings.strategy.ma_short, settings.strategy.ma_long)

            sim.faults.bad_replies = ()  # the same reload, tried again once it can work
            await engine.apply_settings(wanted)
            assert engine.settings.current is wanted
            assert engine.market is not market and not market.running
            assert (engine.market.window.short, engine.market.window.long) == (5, 30)


async def test_a_heartbeat_that_cannot_be_written_does_not_keep_the_halt_unseen(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    """Each step of the heartbeat tick on its own: a checkpoint that raises is logged, and the
    halt policy (which cancels an order in flight at once) still reads the flag."""
    async with Simulator(SimConfig(seed=3)) as sim:
        settings = e2e_settings(sim, redis_url, schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            beat = engine.heartbeat
            seen: list[Halt | None] = []
            beat.on_halt = seen.append

            def broken() -> dict[str, Any]:
                raise ValueError("a checkpoint that cannot be made")

            beat._checkpoint = broken
            await engine.store.set_halt("operator halt", 1_700_000_000_000)
            with warning_messages() as said:
                await beat.tick()
            assert any("heartbeat step beat failed" in m for m in said), said
            assert seen and seen[-1] is not None and seen[-1].reason == "operator halt"
