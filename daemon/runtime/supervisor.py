"""One owner for every background task of the daemon (feeds, heartbeat, evaluations,
status, watchdog).

A supervised task that raises (or returns, which a long-running task never should) is
restarted after a capped exponential backoff. When one task dies ``max_deaths`` times within
``window_s`` the supervisor gives up: ``on_give_up`` is called (the lifecycle then shuts the
daemon down and exits non-zero, so systemd restarts the whole process with fresh
connections). Tasks are cancelled by the part that spawned them (``cancel``) or all at once
(``stop``)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from daemon.config import RuntimeSettings
from daemon.domain.backoff import backoff_s
from daemon.errors import RebalancerError

TaskFactory = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    max_deaths: int = 5  # this many deaths of one task...
    window_s: float = 300.0  # ...within this many seconds: give up (exit, systemd restarts)

    def delay(self, attempt: int) -> float:
        return backoff_s(attempt, first_s=self.backoff_initial_s, max_s=self.backoff_max_s)

    @classmethod
    def from_settings(cls, runtime: RuntimeSettings) -> RestartPolicy:
        return cls(backoff_initial_s=runtime.restart_backoff_s,
                   backoff_max_s=runtime.restart_backoff_max_s,
                   max_deaths=runtime.restart_max_deaths, window_s=runtime.restart_window_s)


class Supervised:
    """One supervised task: its name, how to (re)start it, and its deaths."""

    def __init__(self, name: str, factory: TaskFactory) -> None:
        self.name = name
        self.factory = factory
        self.task: asyncio.Task[None] | None = None
        self.deaths = 0
        self.restarts = 0
        self.last_failure: BaseException | None = None
        self.restarting = False  # dead, waiting out the backoff before the next start

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done() and not self.restarting


GiveUp = Callable[[Supervised], None]


class Supervisor:
    def __init__(self, policy: RestartPolicy | None = None, *, on_give_up: GiveUp | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or RestartPolicy()
        self._on_give_up = on_give_up
        self._clock = clock
        self._units: list[Supervised] = []
        self.gave_up: Supervised | None = None

    @property
    def units(self) -> tuple[Supervised, ...]:
        return tuple(self._units)

    def spawn(self, name: str, factory: TaskFactory) -> Supervised:
        unit = Supervised(name, factory)
        unit.task = asyncio.create_task(self._keep(unit), name=name)
        self._units.append(unit)
        return unit

    async def cancel(self, *units: Supervised) -> None:
        """Cancel ``units`` and wait until each has ended."""
        await cancel_and_wait([u.task for u in units if u.task is not None])
        for unit in units:
            if unit in self._units:
                self._units.remove(unit)

    async def stop(self) -> None:
        await self.cancel(*self._units)

    async def _keep(self, unit: Supervised) -> None:
        window: deque[float] = deque()
        attempt = 0
        while True:
            started = self._clock()
            try:
                await unit.factory()
            except RebalancerError as exc:  # ours say what happened: one line, no traceback
                unit.last_failure = exc
                logger.error("task {} died: {}", unit.name, exc)
            except Exception as exc:  # CancelledError (a BaseException) ends the loop
                unit.last_failure = exc
                logger.opt(exception=exc).error("task {} died: {!r}", unit.name, exc)
            else:
                unit.last_failure = None
                logger.error("task {} ended by itself", unit.name)
            now = self._clock()
            unit.deaths += 1
            window.append(now)
            while window and window[0] < now - self.policy.window_s:
                window.popleft()
            if len(window) >= self.policy.max_deaths:
                self._give_up(unit, len(window))
                return
            if now - started > self.policy.window_s:
                attempt = 0  # it ran well for a long time: back off from the start again
            delay = self.policy.delay(attempt)
            attempt += 1
            unit.restarting = True
            logger.warning("task {}: restart {} in {:.1f} s", unit.name, unit.restarts + 1, delay)
            try:
                await asyncio.sleep(delay)
            finally:
                unit.restarting = False
            unit.restarts += 1

    def _give_up(self, unit: Supervised, deaths: int) -> None:
        logger.critical("task {} died {} times within {:.0f} s; giving up (the daemon exits "
                        "so that systemd restarts it)", unit.name, deaths, self.policy.window_s)
        unit.restarting = False
        if self.gave_up is None:
            self.gave_up = unit
            if self._on_give_up is not None:
                self._on_give_up(unit)


async def cancel_and_wait(tasks: list[asyncio.Task[Any]], *, recancel_s: float = 1.0) -> None:
    """Cancel ``tasks`` and wait until each has ended. A task still running ``recancel_s``
    after its cancel is cancelled again: a cancellation can be lost inside a library call
    (seen with the Redis client: the heartbeat went on renewing the lease after its cancel),
    and a stop must not hang on it."""
    pending = {t for t in tasks if not t.done()}
    rounds = 0
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=recancel_s)
        rounds += 1
        for task in pending:
            logger.warning("task {} did not end {:.1f} s after its cancel; cancelling it "
                           "again", task.get_name(), rounds * recancel_s)
    await asyncio.gather(*tasks, return_exceptions=True)
