"""Redis loses or rolls back the books under a running daemon (a real process, against the
realistic simulator): it stops trading and never writes on them. Books rolled back (a stale
snapshot) are reloaded and reconciled with the exchange, the fills they lost booked again; books
gone (a restart without persistence) wait for ``rebalancer state rebuild``, and the daemon
trades on the rebuilt books. A power cut (daemon killed, Redis rolled back) is caught up at the
next start. Afterwards the books agree with the exchange."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from daemon.local_redis import LocalRedis
from daemon.sim import RandomWalkMarket, SimConfig, Simulator
from tests.support.daemon_process import (
    PREFIX,
    REALISM,
    assert_counters_agree,
    assert_orders_agree,
    daemon_env,
    kill_left,
    live_config,
    orders_with_fills,
    settle,
    start_daemon,
    wait_exit,
)
from tests.support.e2e_harness import assert_books_match_exchange, wait_for
from tests.support.store_builders import booked_ids

KEPT = (b"lease", b"heartbeat")  # not the books: the running daemon's own keys


def sim_config(seed: int) -> SimConfig:
    return SimConfig(seed=seed, speed=600.0, balances={"QRL": "20000", "USDT": "1000"},
                     market=RandomWalkMarket(), partial_fill_ratio="0.35", realism=REALISM)


async def snapshot(client: aioredis.Redis) -> dict[bytes, bytes]:
    keys = [k async for k in client.scan_iter(match=PREFIX + "*")
            if not k.endswith(KEPT)]
    pipe = client.pipeline(transaction=True)
    for k in keys:
        pipe.dump(k)
    dumped = await pipe.execute()
    snap = dict(zip(keys, dumped, strict=True))
    snap[b"#fills"] = str(len(await booked_ids(client, PREFIX))).encode()
    return snap


def snap_fills(snap: dict[bytes, bytes]) -> int:
    return int(snap[b"#fills"])


async def roll_back(client: aioredis.Redis, snap: dict[bytes, bytes]) -> None:
    """Redis as a stale snapshot left it: the books of then, nothing written since (in one
    transaction, as a restart would)."""
    gone = [k async for k in client.scan_iter(match=PREFIX + "*")
            if not k.endswith(KEPT) and k not in snap]
    pipe = client.pipeline(transaction=True)
    if gone:
        pipe.delete(*gone)
    for k, dumped in snap.items():
        if not k.startswith(b"#"):
            pipe.restore(k, 0, dumped, replace=True)
    await pipe.execute()
    assert len(await booked_ids(client, PREFIX)) == snap_fills(snap)


def text_of(log: Path) -> str:
    return log.read_text()


async def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert await wait_exit(proc, 20) == 0, text_of(log)[-3000:]


@pytest.fixture
def volatile_redis() -> Iterator[LocalRedis]:
    """A Redis of the test's own without persistence: a restart comes back empty."""
    with LocalRedis(extra_args=("--appendonly", "no")) as server:
        yield server


async def test_books_gone_stop_trading_until_rebuilt(volatile_redis: LocalRedis,
                                                     tmp_path: Path) -> None:
    async with Simulator(sim_config(31)) as sim:
        cfg = live_config(sim, volatile_redis.url, tmp_path / "c.yaml",
                          redis={"allow_volatile": True})
        log = tmp_path / "d.log"
        env = daemon_env(sim)
        proc = start_daemon(cfg, log, env)
        client = aioredis.Redis.from_url(volatile_redis.url)
        try:
            await wait_for(lambda: orders_with_fills(sim) >= 2, 30, "the first fills")
            sent = len(sim.order_requests)
            volatile_redis.stop()
            volatile_redis.start()  # same port, EMPTY
            await wait_for(lambda: "Redis lost the books" in text_of(log), 10,
                           "the daemon to notice")
            await asyncio.sleep(4.0)
            assert len(sim.order_requests) == sent  # no order on books it cannot trust
            left = {k.removeprefix(PREFIX.encode()) for k in await client.keys(PREFIX + "*")}
            assert left <= set(KEPT), left  # nothing of the books written on
            await settle(sim)
            rebuild = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "daemon", "state", "rebuild", "-c", str(cfg)], env=env,
                capture_output=True, text=True, timeout=60, check=False)
            assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
            sim.resume()
            await wait_for(lambda: len(sim.order_requests) > sent, 30,
                           "trading to resume on the rebuilt books")
            await wait_for(lambda: orders_with_fills(sim) >= 4, 30, "more fills")
            await stop(proc, log)
        finally:
            sim.resume()
            await client.aclose()
            kill_left(proc)
        text = text_of(log)
        assert text.count("Redis lost the books") == 1, text[-3000:]  # said once
        assert "died" not in text, text[-3000:]  # no stream lost on the way
        assert "a new life" in text
        await assert_books_match_exchange(sim, volatile_redis.url)
        await assert_orders_agree(sim, volatile_redis.url)
        await assert_counters_agree(sim, volatile_redis.url)


async def test_books_rolled_back_are_reconciled_and_the_lost_fills_booked(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    async with Simulator(sim_config(32)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "c.yaml")
        log = tmp_path / "d.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            await wait_for(lambda: orders_with_fills(sim) >= 2, 30, "the first fills")
            await settle(sim)
            snap = await snapshot(redis_client)
            sim.resume()
            seen = orders_with_fills(sim)
            await wait_for(lambda: orders_with_fills(sim) >= seen + 3, 30, "more fills")
            await settle(sim)
            await roll_back(redis_client, snap)  # the fills since the snapshot are gone
            sim.resume()
            await wait_for(lambda: "Redis rolled back" in text_of(log), 10,
                           "the daemon to notice")
            await wait_for(lambda: orders_with_fills(sim) >= seen + 5, 30, "trading again")
            await stop(proc, log)
        finally:
            sim.resume()
            kill_left(proc)
        assert "finished order of ours with fills the books do not have" in text_of(log)
        assert "died" not in text_of(log)
        await assert_books_match_exchange(sim, redis_url)
        await assert_orders_agree(sim, redis_url)
        await assert_counters_agree(sim, redis_url)


async def test_a_power_cut_is_caught_up_at_the_next_start(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    async with Simulator(sim_config(33)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "c.yaml")
        log = tmp_path / "d.log"
        env = daemon_env(sim)
        proc = start_daemon(cfg, log, env)
        try:
            await wait_for(lambda: orders_with_fills(sim) >= 2, 30, "the first fills")
            await settle(sim)
            snap = await snapshot(redis_client)  # Redis's last snapshot before the cut
            sim.resume()
            seen = orders_with_fills(sim)
            await wait_for(lambda: orders_with_fills(sim) >= seen + 3, 30, "more fills")
            await settle(sim)
            proc.kill()  # the power goes: the daemon dies, Redis comes back from the snapshot
            proc.wait()
            await roll_back(redis_client, snap)
            await redis_client.delete(PREFIX + "lease")
            sim.resume()
            said = len(text_of(log).split("ready: "))
            proc = start_daemon(cfg, log, env)
            # the new daemon is up (a SIGTERM before its handlers exist ends it at once: -15;
            # an order the killed one left resting may fill before the new one has started)
            await wait_for(lambda: len(text_of(log).split("ready: ")) > said, 30, "ready")
            await wait_for(lambda: orders_with_fills(sim) >= seen + 5, 30, "trading again")
            await stop(proc, log)
        finally:
            sim.resume()
            kill_left(proc)
        await assert_books_match_exchange(sim, redis_url)
        await assert_orders_agree(sim, redis_url)
        await assert_counters_agree(sim, redis_url)
