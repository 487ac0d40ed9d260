"""``LocalRedis(guarded=True)`` (the demo's): redis-server in a session of its own, so the
terminal's Ctrl-C reaches only the demo, and ended by the kernel when the process that started
it is killed, instead of living on under PID 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

STARTER = """
import sys, time
from daemon.local_redis import LocalRedis
redis = LocalRedis(guarded={guarded})
redis.start()
print(redis.proc.pid, flush=True)
time.sleep(60)
"""


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def start(guarded: bool) -> tuple[subprocess.Popen[str], int]:
    starter = subprocess.Popen([sys.executable, "-c", STARTER.format(guarded=guarded)],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert starter.stdout is not None
    return starter, int(starter.stdout.readline())


def test_a_guarded_redis_ends_with_the_process_that_started_it() -> None:
    starter, redis = start(guarded=True)
    try:
        assert os.getsid(redis) == redis  # its own session: no terminal signal reaches it
        starter.kill()
        starter.wait(timeout=10)
        deadline = time.monotonic() + 10
        while running(redis) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(redis)
    finally:
        if running(redis):
            os.kill(redis, signal.SIGKILL)


def test_an_unguarded_redis_is_as_before() -> None:
    """Tests start theirs unguarded (from any thread): same session, outlives a kill."""
    starter, redis = start(guarded=False)
    try:
        assert os.getsid(redis) == starter.pid
        starter.kill()
        starter.wait(timeout=10)
        time.sleep(0.5)
        assert running(redis)
    finally:
        os.kill(redis, signal.SIGKILL)
