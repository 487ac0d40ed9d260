"""The daemon's lifecycle (App) with the real engine against the simulator and a real Redis,
under a fake systemd (a real AF_UNIX datagram NOTIFY_SOCKET):

- a background task that keeps dying (the exchange answers the private stream's handshake
  with 403) ends App.run with a non-zero code, through the normal shutdown path;
- a dead feed (every websocket silent) stops the WATCHDOG=1 pings while it stays dead, and
  they resume once it is back;
- a shutdown that overruns its grace period (an order in flight whose cancel hangs) still
  closes the connections and releases the lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from daemon.config import Credentials, Settings
from daemon.runtime.app import App
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.notify import Notifier
from daemon.runtime.supervisor import RestartPolicy
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, sim_creds
from tests.support.fake_systemd import FakeSystemd

LEASE_KEY = "bot:QRLUSDT:lease"
FAST_RESTARTS = RestartPolicy(backoff_initial_s=0.05, backoff_max_s=0.1, max_deaths=3,
                              window_s=60)


def settings_for(sim: Simulator, redis_url: str, **sections: dict[str, Any]) -> Settings:
    fast: dict[str, dict[str, Any]] = {
        "exchange": {"request_timeout_ms": 1000, "ws_ping_interval_s": 0.2,
                     "ws_stale_after_s": 1.0, "ws_reconnect_max_backoff_s": 0.2},
        "redis": {"lease_ttl_s": 5}, "schedule": {"interval_s": 3600},
        "health": {"heartbeat_interval_s": 0.2}}
    for name, values in sections.items():
        fast.setdefault(name, {}).update(values)
    return e2e_settings(sim, redis_url, **fast)


def make_app(tmp_path: Path, settings: Settings, creds: Credentials, systemd: FakeSystemd,
             watchdog_usec: int = 200_000) -> App:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("{}\n")  # only read by a reload, which these tests do not do
    env = {"NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": str(watchdog_usec)}
    return App(cfg, settings, creds, build_engine, notifier=Notifier(env),
               restart_policy=FAST_RESTARTS)


async def until(cond: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {limit_s}s waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_task_that_keeps_dying_ends_the_app_non_zero(
        redis_url: str, tmp_path: Path, systemd: FakeSystemd,
        redis_client: aioredis.Redis) -> None:
    # the private stream's handshake is answered 403, a fatal error for the stream, every
    # time it connects (a refused subscription is retried inside the stream instead)
    async with Simulator(SimConfig(seed=3)) as sim:
        sim.faults.ws_private_handshake_status = 403
        app = make_app(tmp_path, settings_for(sim, redis_url), sim_creds(sim), systemd)
        code = await asyncio.wait_for(app.run(), 30)
        assert code == 1
        assert app.failed is not None and app.failed.name == "user-ws"
        assert app.failed.deaths == FAST_RESTARTS.max_deaths
        messages = systemd.drain()
        assert messages[0].startswith("READY=1") and "STOPPING=1" in messages
        assert await redis_client.get(LEASE_KEY) is None  # the shutdown path ran
        assert app.supervisor.units == ()
        assert [t for t in asyncio.all_tasks() if t.get_name() in
                ("market-ws", "user-ws", "heartbeat", "watchdog")] == []


async def test_a_dead_feed_stops_the_watchdog_until_it_is_back(
        redis_url: str, tmp_path: Path, systemd: FakeSystemd) -> None:
    async with Simulator(SimConfig(seed=3)) as sim:
        app = make_app(tmp_path, settings_for(sim, redis_url), sim_creds(sim), systemd)
        task = asyncio.create_task(app.run())
        try:
            await until(lambda: len(systemd.pings()) >= 5, 20, "watchdog pings")
            engine = app.engine
            assert isinstance(engine, RebalancerEngine) and engine.health() is None
            sim.stall_websockets(10.0)  # every websocket goes silent: the feeds die
            stalled_at = time.monotonic()
            await until(lambda: engine.health() is not None, 10, "the feed to count as dead")
            unhealthy_at = time.monotonic()
            assert "down for" in (engine.health() or "")
            await asyncio.sleep(1.5)
            assert [t for t in systemd.pings() if t > unhealthy_at + 0.3] == []  # no pings
            await until(lambda: engine.health() is None, 20, "the feeds to come back")
            back_at = time.monotonic()
            await until(lambda: any(t > back_at for t in systemd.pings()), 5,
                        "pings to resume")
            assert back_at - stalled_at > 4  # it was dead for a while, not a blip
            assert app.failed is None and not task.done()
        finally:
            app.request_stop()
            assert await asyncio.wait_for(task, 20) == 0


async def test_an_overrun_shutdown_still_releases_the_lease(
        redis_url: str, tmp_path: Path, systemd: FakeSystemd,
        redis_client: aioredis.Redis) -> None:
    release = asyncio.Event()

    async def hang(params: Any) -> None:
        await release.wait()  # the cancel request hangs at the exchange

    sim_cfg = SimConfig(seed=4, speed=60.0, balances={"QRL": "20000", "USDT": "200"})
    async with Simulator(sim_cfg) as sim:
        sim.pause()  # a frozen market: the maker order rests
        sim.hooks.before_cancel = hang
        settings = settings_for(sim, redis_url, schedule={"interval_s": 1},
                                execution={"order_type": "limit_maker", "order_timeout_s": 60},
                                runtime={"shutdown_grace_s": 0.5})
        app = make_app(tmp_path, settings, sim_creds(sim), systemd)
        task = asyncio.create_task(app.run())
        try:
            await until(lambda: isinstance(app.engine, RebalancerEngine)
                        and app.engine.executor.in_flight is not None
                        and app.engine.executor.in_flight.order_id is not None, 20,
                        "a resting order")
            assert await redis_client.get(LEASE_KEY) is not None
            started = time.monotonic()
            app.request_stop()
            code = await asyncio.wait_for(task, 15)
            assert code == 1  # forced: the grace period was overrun
            assert time.monotonic() - started < 10
            assert await redis_client.get(LEASE_KEY) is None  # released all the same
            assert app.supervisor.units == ()
            assert "STOPPING=1" in systemd.drain()
        finally:
            release.set()
            if not task.done():
                task.cancel()
