"""Startup steps retried inside the process (one place for the whole startup).

A startup step (server time, exchange rules, the stored state's check against the exchange,
the kline backfill, balances and a listenKey, reconciliation) that fails in a way another try
can cure is tried again with capped backoff, until ``runtime.startup_timeout_s`` has passed
since the startup began; what cannot be cured stops the daemon at once.

- Tried again: TransientExchangeError (5xx, timeouts, resets, 429, 700003, a refused listenKey)
  and ProtocolError (a truncated or garbage answer: no startup request has an effect whose
  unreadable answer could hide one, those raise OutcomeUnknown instead).
- Not tried again: AuthError, SymbolNotTradable, ConfigError, any other FatalExchangeError,
  OutcomeUnknown, StateError: retrying cannot help, and the operator must act.

The daemon sends READY=1 only after startup, so the bound sits below systemd's
TimeoutStartSec (120 s in the shipped units): the daemon gives up itself with the last error,
which names the request, instead of being killed by systemd without a word. Each distinct error
is logged once (the retries of one outage do not flood the journal)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from loguru import logger

from daemon.domain.backoff import backoff_s
from daemon.errors import ProtocolError, TransientExchangeError

T = TypeVar("T")
RETRIED = (TransientExchangeError, ProtocolError)


class StartupRetry:
    """Runs startup steps; one deadline for all of them, set when the startup begins."""

    def __init__(self, timeout_s: float, *, first_s: float = 0.5, max_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.timeout_s = timeout_s
        self._first_s, self._max_s = first_s, max_s
        self._clock, self._sleep = clock, sleep
        self._deadline = clock() + timeout_s
        self._seen: set[str] = set()
        self.retries = 0

    async def __call__(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """``step()``'s result; its error when it cannot be cured or time is up."""
        attempt = 0
        while True:
            try:
                return await step()
            except RETRIED as exc:
                left = self._deadline - self._clock()
                if left <= 0:
                    logger.error("startup: {} still failing after {:g} s "
                                 "(runtime.startup_timeout_s); giving up", what, self.timeout_s)
                    raise
                delay = min(left, backoff_s(attempt, first_s=self._first_s, max_s=self._max_s,
                                            jitter=0.5 + random.random()))
                self._log_once(what, exc, left)
            attempt += 1
            self.retries += 1
            await self._sleep(delay)

    def _log_once(self, what: str, exc: Exception, left: float) -> None:
        text = str(exc)
        if text in self._seen:
            return
        self._seen.add(text)
        logger.warning("startup: {} failed ({}); retrying with backoff for up to {:.0f} s",
                       what, text, left)
