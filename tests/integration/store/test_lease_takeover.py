"""A restarted daemon takes the lease of a dead predecessor on the same host at once, and never
judges a live process or another host's holder dead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from daemon.runtime.lease import holder_is_dead


def test_dead_local_process_is_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert holder_is_dead(f"{socket.gethostname()}:{proc.pid}:abcd1234")


def test_live_or_foreign_holders_are_not_dead() -> None:
    host = socket.gethostname()
    assert not holder_is_dead(f"{host}:{os.getpid()}:abcd1234")  # ourselves
    assert not holder_is_dead(f"{host}:{os.getppid()}:abcd1234")  # a live process
    assert not holder_is_dead(f"other-host-{host}:999999:abcd1234")  # only its TTL can tell
    assert not holder_is_dead("garbage")
    assert not holder_is_dead(f"{host}:notapid:x")
