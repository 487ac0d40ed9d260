"""A SIGHUP that arrives while the process is still starting is kept, not fatal.

Until the event loop's handlers are installed (``App.install_signal_handlers``) SIGHUP has its
default action: the process ends. Importing the daemon and reading the config take about a
second, and systemd counts a death by SIGHUP as a clean exit, so ``Restart=on-failure`` left
the daemon down (a ``systemctl reload`` during ``systemctl start``). ``daemon.cli`` calls
``hold`` before its imports; ``App`` takes a pending request once its own handler is in place
and applies it when the daemon is up. Commands other than ``run`` ``release`` it: SIGHUP gets
back the disposition it had before ``hold`` (the default: a hangup ends them as before; ignored
under ``nohup``: it stays ignored, and one that came while held is dropped).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

_pending = False
_before: signal.Handlers | None = None  # SIGHUP's disposition before ``hold``


def _record(signum: int, frame: FrameType | None) -> None:
    global _pending
    _pending = True


def _main_thread() -> bool:
    # only there can handlers change (tests call the CLI from worker threads too)
    return threading.current_thread() is threading.main_thread()


def hold() -> None:
    """From now on a SIGHUP is remembered instead of ending the process."""
    global _before
    if _main_thread():
        previous = signal.signal(signal.SIGHUP, _record)
        if previous in (signal.SIG_IGN, signal.SIG_DFL):
            _before = signal.Handlers(previous)


def take() -> bool:
    """Whether a SIGHUP came while held (once)."""
    global _pending
    pending, _pending = _pending, False
    return pending


def release() -> None:
    """SIGHUP's disposition from before ``hold`` again (the default, or ignored under
    ``nohup``); one that came while held is delivered now unless it is ignored."""
    if not _main_thread():
        return
    ignored = _before is signal.SIG_IGN
    signal.signal(signal.SIGHUP, signal.SIG_IGN if ignored else signal.SIG_DFL)
    if take() and not ignored:
        os.kill(os.getpid(), signal.SIGHUP)
