"""The real engine against the simulator and a real Redis: websockets whose subscriptions stay
refused ("Blocked!") keep retrying inside their streams (no task dies), and the engine's
health (what feeds the systemd watchdog) and status line name each stream and the refusal; once
the exchange accepts again the daemon is healthy without a restart (issue 12, section 3)."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as aioredis

from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

HEARTBEAT = "bot:QRLUSDT:heartbeat"
FAST_WS = {"request_timeout_ms": 500, "ws_ping_interval_s": 0.2, "ws_stale_after_s": 0.5,
           "ws_reconnect_max_backoff_s": 0.2}


async def test_streams_that_stay_refused_make_the_engine_unhealthy_until_accepted(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    async with Simulator(SimConfig(seed=3)) as sim:
        settings = e2e_settings(sim, redis_url, exchange=FAST_WS,
                                schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            streams = [engine.market.stream, *(f.stream for f in engine.user_feeds)]
            await wait_for(lambda: all(s.connected.is_set() for s in streams), 5, "streams")
            assert engine.health() is None
            sim.faults.ws_refused_subscriptions = 10**9
            sim.drop_websockets()
            await wait_for(lambda: "user stream" in (engine.health() or ""), 8, "unhealthy")
            problem = engine.health() or ""
            status = engine.status_line()
            beats: list[dict[str, object]] = []
            for _ in range(40):  # the heartbeat in Redis says it too (``status`` shows it)
                beats.append(orjson.loads(await redis_client.get(HEARTBEAT) or b"{}"))
                if "Blocked!" in str(beats[-1].get("health")):
                    break
                await asyncio.sleep(0.1)
            assert all(u.deaths == 0 for u in engine.supervisor.units)
            sim.faults.ws_refused_subscriptions = 0
            await wait_for(lambda: engine.health() is None, 5, "healthy again")
            assert "UNHEALTHY" not in engine.status_line()
    assert "market QRLUSDT down for " in problem and "user stream down for " in problem
    assert problem.count("refused: 'Not Subscribed successfully! [") == 2
    assert problem.count("Blocked!") == 2
    assert "; UNHEALTHY: market QRLUSDT down for " in status and "Blocked!" in status
    assert all(s.stats.refusals >= 2 for s in streams)
    beat = str(beats[-1].get("health"))
    assert "market QRLUSDT down for " in beat and "Blocked!" in beat
