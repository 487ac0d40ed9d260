"""Child processes that do not outlive the process that started them (the demo's redis-server,
simulator and daemon).

A child started with ``start_new_session=True`` does not get the terminal's signals (Ctrl-C,
hangup), so its parent stops it; ``preexec_fn=die_with_parent()`` covers the parent that cannot:
killed with SIGKILL, the child gets SIGTERM from the kernel (Linux ``PR_SET_PDEATHSIG``) instead
of living on under PID 1. The signal follows the *thread* that started the child: start such
children from the main thread. Elsewhere than Linux the guard does nothing."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] | None = getattr(libc, "prctl", None)
    return prctl


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process
    dies; a child whose parent died before the guard was set ends at once."""
    parent = os.getpid()
    prctl = _prctl()  # looked up here, not between fork and exec

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: nobody stops us
            os._exit(1)

    return preexec
