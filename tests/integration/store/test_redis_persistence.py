"""Redis persistence against real redis-servers: the private Redis of the demo and the tests
keeps what it acknowledged across a SIGKILL (AOF), RedisStore.persistence reads what a server
does (with CONFIG, without it)."""

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


async def test_persistence_of_the_private_redis(store: RedisStore) -> None:
    found = await store.persistence()
    assert (found.aof_enabled, found.appendfsync, found.save) == (True, "everysec", "")
    assert found.config_refused is None
    assert found.describe() == "AOF on (appendfsync everysec), RDB snapshots off"


async def test_persistence_of_a_redis_with_snapshots_only() -> None:
    with LocalRedis(extra_args=("--appendonly", "no", "--save", "3600 1")) as server:
        store = RedisStore(server.url, P)
        await store.connect()
        try:
            await store.client.set(P + "x", "1")
            found = await store.persistence()
        finally:
            await store.close()
    assert (found.aof_enabled, found.appendfsync, found.save) == (False, "everysec", "3600 1")
    assert found.rdb_changes_since_last_save == 1
    assert found.describe() == \
        "AOF off, RDB snapshots 'save 3600 1' (1 change(s) since the last one)"


async def test_persistence_without_config_command_reads_info_alone() -> None:
    """Managed Redis often renames or disables CONFIG: INFO alone still tells AOF on/off."""
    with LocalRedis(extra_args=("--rename-command", "CONFIG", "")) as server:
        store = RedisStore(server.url, P)
        await store.connect()
        try:
            found = await store.persistence()
            assert store.available
        finally:
            await store.close()
    assert (found.aof_enabled, found.appendfsync, found.save) == (True, None, None)
    assert found.config_refused is not None and "CONFIG" in found.config_refused.upper()
    assert found.describe().startswith("AOF on (appendfsync unknown), RDB schedule unknown")
    assert "read from INFO persistence only" in found.describe()
