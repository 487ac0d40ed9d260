"""A reload is all or nothing in the real engine (simulator over HTTP, real Redis): new
averages whose candle window cannot be built (the exchange refuses the klines backfill) are
refused with the reason and change nothing — not the settings the planner reads, not the
window, not the notification URLs — so that ``rebalancer reload`` never reports "applied" for
a config the daemon only half took, and the same reload can be tried again."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from daemon.errors import RebalancerError
from daemon.sim import BadReply, SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds


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
