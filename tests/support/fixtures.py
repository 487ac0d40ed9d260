"""The shared fixtures, one copy each (registered by tests/conftest.py): a real redis-server on
a free port (never the system Redis), a clean database and store per test, running simulators,
a REST client and a signing client talking to them, a fake systemd notify socket."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.local_redis import LocalRedis
from daemon.sim import SimConfig, Simulator
from tests.support.fake_systemd import FakeSystemd
from tests.support.sim_client import Client
from tests.support.sim_settings import creds_for, settings_for

REPO = Path(__file__).resolve().parent.parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
PREFIX = "bot:QRLUSDT:"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis]:
    with LocalRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> Iterator[str]:
    """A clean database for each test."""
    import redis as syncredis

    client = syncredis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    """A connected store under PREFIX; short plan and order histories so caps show."""
    s = RedisStore(redis_url, PREFIX, plan_history_max=3, recent_orders_max=3)
    await s.connect()
    await s.check_schema()
    await s.load_state()  # the view of the books fenced writes start from
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} missing: CI must have ../shared beside the checkout")
        pytest.skip(f"{SHARED_DATA} not present (CI has ../shared beside the checkout)")
    return SHARED_DATA


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A running simulator (seed 1) for the simulator's own tests."""
    async with Simulator(SimConfig(seed=1, speed=60.0), port=0) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    """A signing HTTP client talking to ``sim``."""
    async with aiohttp.ClientSession() as session:
        yield Client(sim, session)


@pytest.fixture
async def msim() -> AsyncIterator[Simulator]:
    """A running simulator (seed 7) for the daemon's MEXC adapter tests."""
    async with Simulator(SimConfig(seed=7, speed=60.0), port=0) as s:
        yield s


@pytest.fixture
async def rest(msim: Simulator) -> AsyncIterator[MexcRest]:
    """The daemon's REST client, signed, talking to ``msim``."""
    client = MexcRest(settings_for(msim).exchange, creds_for(msim), backoff_first_s=0.01,
                      backoff_max_s=0.02)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A fake systemd: a datagram socket bound where NOTIFY_SOCKET will point."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


@pytest.fixture
async def systemd(tmp_path: Path) -> AsyncIterator[FakeSystemd]:
    """A fake systemd reading NOTIFY_SOCKET datagrams as they arrive."""
    fake = FakeSystemd(str(tmp_path / "systemd-notify.sock"))
    fake.watch()
    yield fake
    fake.close()
