"""The trading lease's phases against a real Redis: STANDBY while another instance holds it,
RECOVERING when taken, TRADING once recovered, STANDBY again when lost, a dead local holder
taken over at once, STOPPING final and released."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.settings_ref import SettingsRef

P = "bot:QRLUSDT:"
SETTINGS = SettingsRef(parse_settings({"redis": {"lease_ttl_s": 5},
                                     "health": {"heartbeat_interval_s": 1}}))


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_url, P)
    await s.connect()
    try:
        yield s
    finally:
        await s.close()


async def test_phases_from_standby_to_trading_and_back(store: RedisStore) -> None:
    raw = RedisLease(store)
    assert await raw.acquire("other-host:1:x", 5)
    lease = TradingLease(store, SETTINGS, owner="me-host:2:y")
    assert not await lease.take()
    assert lease.phase is Phase.STANDBY and not lease.holds and not lease.may_decide
    assert await raw.release("other-host:1:x")
    assert await lease.take()
    assert lease.phase is Phase.RECOVERING and lease.holds and not lease.may_decide
    assert await raw.holder() == "me-host:2:y"
    lease.recovered()
    assert lease.phase is Phase.TRADING and lease.may_decide
    await lease.renew()
    assert lease.phase is Phase.TRADING
    # another instance got it (ours expired meanwhile): standby, no decisions
    assert await raw.release("me-host:2:y") and await raw.acquire("other-host:1:x", 5)
    await lease.renew()
    assert lease.phase is Phase.STANDBY and not lease.may_decide
    assert await raw.holder() == "other-host:1:x"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_a_dead_local_holder_is_taken_over_at_once(store: RedisStore) -> None:
    dead = f"{socket.gethostname()}:{dead_pid()}:dead0000"
    assert await RedisLease(store).acquire(dead, 30)
    lease = TradingLease(store, SETTINGS)
    assert await lease.take()
    assert lease.phase is Phase.RECOVERING
    assert await RedisLease(store).holder() == lease.owner


async def test_stopping_is_final_and_release_gives_the_lease_up(store: RedisStore) -> None:
    lease = TradingLease(store, SETTINGS)
    assert await lease.take()
    lease.recovered()
    lease.stop()
    assert lease.phase is Phase.STOPPING and not lease.holds and not lease.may_decide
    await lease.renew()  # kept (renewed) until released
    assert await RedisLease(store).holder() == lease.owner
    assert not await lease.take()  # never taken again while stopping
    lease.recovered()
    assert lease.phase is Phase.STOPPING
    await lease.release()
    assert await RedisLease(store).holder() is None
