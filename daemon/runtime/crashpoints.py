"""Named crash points for the crash-recovery tests (fault injection, as in FoundationDB's
BUGGIFY): inert unless the environment variable REBALANCER_CRASH_AT names one, in which case
the process SIGKILLs itself there: no cleanup, no flush, exactly like a power cut.

Points: ``after_intent`` (the intent is in Redis, the order request not yet sent);
``between_sells_and_buys`` (a portfolio's SELL legs are final, its BUY legs not sized yet)."""

from __future__ import annotations

import os
import signal

ENV = "REBALANCER_CRASH_AT"
_ARMED = os.environ.get(ENV, "")


def crash_point(name: str) -> None:
    if _ARMED and name == _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
