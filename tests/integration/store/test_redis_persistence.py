"""Redis persistence against real redis-servers: the private Redis of the demo and the tests
keeps what it acknowledged across a SIGKILL (AOF), RedisStore.persistence reads what a server
does (with CONFIG, without it), and the README's commands switch AOF on a running server."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

from daemon.adapters.redis_store import RedisStore
from daemon.local_redis import LocalRedis
from tests.support.store_builders import intent

P = "bot:QRLUSDT:"
README = Path(__file__).resolve().parents[3] / "README.md"
DONE = "aof_rewrite_in_progress:0\naof_rewrite_scheduled:0"


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
        await store.load_state()
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


def readme_redis_commands() -> list[str]:
    """The ``redis-cli ...`` lines of the README's Production Redis section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Production Redis", 1)[1].split("\n#", 1)[0]
    return [re.sub(r"\s+#.*$", "", line)
            for line in re.findall(r"^redis-cli .*$", section, flags=re.M)]


def run_on(port: int, line: str) -> str:
    """One README line in a shell, with its redis-cli talking to ``port``."""
    run = subprocess.run(["bash", "-c", "set -o pipefail; " + line.replace(
        "redis-cli ", f"redis-cli -p {port} ")], capture_output=True, text=True, timeout=10,
        check=False)
    assert run.returncode == 0, run
    return run.stdout.replace("\r", "").strip()


async def test_readme_commands_switch_aof_on_a_running_redis_and_keep_it(
        tmp_path: Path) -> None:
    """A Redis started from a redis.conf without AOF (like Debian's), holding data: the
    README's commands switch AOF on and write it into redis.conf; once the first rewrite is
    done (the README says to wait for it) the data survives a SIGKILL and a restart from
    that file."""
    switch_on, rewrite, check = readme_redis_commands()
    assert (switch_on, rewrite) == ("redis-cli CONFIG SET appendonly yes",
                                    "redis-cli CONFIG REWRITE")
    conf = tmp_path / "redis.conf"
    conf.write_text("appendonly no\nappendfsync everysec\nsave \"\"\n")
    server = LocalRedis(data_dir=tmp_path, config_file=conf, extra_args=("--appendonly", "no"))
    server.start()
    try:
        store = RedisStore(server.url, P)
        await store.connect()
        await store.check_schema()
        await store.set_core_floor(Decimal("42"), 1_700_000_000_000)
        assert not (await store.persistence()).aof_enabled
        assert run_on(server.port, check) == f"aof_enabled:0\n{DONE}"
        assert run_on(server.port, switch_on) == "OK"
        assert run_on(server.port, rewrite) == "OK"
        assert (await store.persistence()).aof_enabled
        assert re.search(r"^appendonly yes$", conf.read_text(), flags=re.M)
        for _ in range(200):
            shown = run_on(server.port, check)
            if shown == f"aof_enabled:1\n{DONE}":
                break
            assert shown.startswith("aof_enabled:1\n"), shown
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the first AOF rewrite did not end: {shown!r}")
        await store.close()
        kill_hard(server)

        server.extra_args = ()  # from here on redis.conf alone says appendonly
        server.start()
        store = RedisStore(server.url, P)
        await store.connect()
        assert (await store.persistence()).aof_enabled
        assert await store.get_core_floor() == Decimal("42")
        await store.close()
    finally:
        server.stop()
