"""The startup check of Redis persistence, through the real composition root against the
simulator and real redis-servers: mode live refuses a Redis without an append-only file before
anything is written or sent, unless redis.allow_volatile; dry_run only warns, once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from loguru import logger

from daemon.config import Mode
from daemon.errors import ConfigError
from daemon.local_redis import LocalRedis, free_port
from daemon.runtime.compose import build_engine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, sim_creds


@pytest.fixture(scope="module")
def volatile_redis() -> Iterator[LocalRedis]:
    """A redis-server as Debian ships it minus the snapshots: no AOF, no RDB."""
    with LocalRedis(extra_args=("--appendonly", "no", "--save", "")) as server:
        yield server


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(seed=4, speed=60.0)) as s:
        yield s


@pytest.fixture
def logged() -> Iterator[list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    sink = logger.add(lambda m: lines.append((m.record["level"].name, m.record["message"])),
                      level="DEBUG")
    yield lines
    logger.remove(sink)


def about_redis(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(level, text) for level, text in lines if text.startswith("Redis redis://")]


async def test_live_refuses_a_redis_without_aof_before_writing_or_sending(
        volatile_redis: LocalRedis, sim: Simulator) -> None:
    client = aioredis.Redis.from_url(volatile_redis.url)
    await client.flushall()
    settings = e2e_settings(sim, volatile_redis.url)
    with pytest.raises(ConfigError) as caught:
        await build_engine(settings, sim_creds(sim), Supervisor())
    text = str(caught.value)
    assert text.startswith(f"Redis {volatile_redis.url}: AOF off, RDB snapshots off. "
                           "mode: live refuses it: ")
    assert "(appendonly yes, appendfsync everysec; README: Production Redis)" in text
    assert "or set redis.allow_volatile: true to accept the risk" in text
    assert await client.dbsize() == 0  # not even the schema key was written
    await client.aclose()
    assert sim.order_requests == []


@pytest.mark.parametrize(("mode", "allow", "why"), [
    (Mode.LIVE, True, "(redis.allow_volatile: true, running live anyway)"),
    (Mode.DRY_RUN, False, "(mode: live would refuse it unless redis.allow_volatile: true)"),
])
async def test_allowed_or_dry_run_warns_once_and_runs(
        volatile_redis: LocalRedis, sim: Simulator, logged: list[tuple[str, str]],
        mode: Mode, allow: bool, why: str) -> None:
    settings = e2e_settings(sim, volatile_redis.url, redis={"allow_volatile": allow})
    settings = settings.model_copy(update={"mode": mode})
    client = aioredis.Redis.from_url(volatile_redis.url)
    await client.flushall()
    await client.aclose()
    creds = sim_creds(sim) if mode is Mode.LIVE else None
    engine = await build_engine(settings, creds, Supervisor())
    await engine.close()
    found = about_redis(logged)
    assert len(found) == 1, found
    level, text = found[0]
    assert level == "WARNING" and text.endswith(why)
    assert text.startswith(f"Redis {volatile_redis.url}: AOF off, RDB snapshots off: ")


async def test_live_on_aof_everysec_starts_and_says_what_it_can_lose(
        redis_url: str, sim: Simulator, logged: list[tuple[str, str]]) -> None:
    engine = await build_engine(e2e_settings(sim, redis_url), sim_creds(sim), Supervisor())
    await engine.close()
    assert about_redis(logged) == [("INFO", (
        f"Redis {redis_url}: AOF on (appendfsync everysec), RDB snapshots off: a power cut or "
        "kernel crash can lose about the last second of writes"))]


def test_run_exits_2_with_the_refusal_on_stderr(volatile_redis: LocalRedis,
                                                tmp_path: Path) -> None:
    """What an operator sees: ``rebalancer run`` in mode live exits 2 (a configuration to
    change) with the refusal as its last line; no exchange is contacted (nothing listens at
    rest_url)."""
    nothing = f"127.0.0.1:{free_port()}"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"mode: live\nexchange:\n  rest_url: http://{nothing}\n"
                   f"  ws_url: ws://{nothing}/ws\nredis:\n  url: {volatile_redis.url}\n")
    env = dict(os.environ, MEXC_API_KEY="mx0vglTESTKEY000000", MEXC_API_SECRET="not-a-secret")
    env.pop("NOTIFY_SOCKET", None)
    run = subprocess.run([sys.executable, "-m", "daemon", "run", "-c", str(cfg)], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Redis {volatile_redis.url}: AOF off, RDB snapshots off. "
                           "mode: live refuses it: "), run.stderr
    assert last.endswith("or set redis.allow_volatile: true to accept the risk")
