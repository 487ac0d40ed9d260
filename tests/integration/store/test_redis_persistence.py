"""Redis persistence against real redis-servers: the private Redis of the demo and the tests
keeps what it acknowledged across a SIGKILL (AOF)."""

from __future__ import annotations

import signal
from decimal import Decimal
from pathlib import Path

from daemon.adapters.redis_store import RedisStore
from daemon.local_redis import LocalRedis
from tests.support.store_builders import intent

P = "bot:QRLUSDT:"


def kill_hard(server: LocalRedis) -> None:
    """SIGKILL: no shutdown, no final save or fsync by Redis."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    assert server.proc.wait(timeout=5) == -signal.SIGKILL


async def test_local_redis_killed_and_restarted_on_its_dir_keeps_the_books(
        tmp_path: Path) -> None:
    server = LocalRedis(data_dir=tmp_path)
    server.start()
    try:
        store = RedisStore(server.url, P, socket_timeout_s=2.0)
        await store.connect()
        await store.check_schema()
        await store.write_intent(intent(coid="rb-aof-0"))
        await store.set_core_floor(Decimal("1234.5"), 1_700_000_000_000)
        await store.record_plan({"action": "HOLD", "n": 7})
        await store.close()
        kill_hard(server)

        server.start()  # the same data dir
        store = RedisStore(server.url, P, socket_timeout_s=2.0)
        await store.connect()
        state = await store.load_state()
        assert set(state.orders) == {"rb-aof-0"} and state.open_order_ids == {"rb-aof-0"}
        assert state.core_floor == Decimal("1234.5")
        assert [p["n"] for p in await store.plan_history()] == [7]
        await store.close()
    finally:
        server.stop()
