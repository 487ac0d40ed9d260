"""When to evaluate: every ``schedule.interval_s`` aligned to the clock (APScheduler), and at
once on a crossover. One evaluation at a time; triggers that arrive during an evaluation
coalesce into ONE follow-up evaluation (the reason of the first pending trigger is kept, the
others are counted)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from daemon.runtime.supervisor import Supervised, Supervisor

Evaluate = Callable[[str], Awaitable[None]]
ABORT_WAIT_S = 2.0


def next_aligned(now_s: float, interval_s: int) -> float:
    """The next multiple of ``interval_s`` since the epoch strictly after ``now_s``."""
    return (math.floor(now_s / interval_s) + 1) * interval_s


class EvaluationScheduler:
    JOB_ID = "rebalance"

    def __init__(self, evaluate: Evaluate, interval_s: int,
                 supervisor: Supervisor | None = None) -> None:
        self._evaluate = evaluate
        self.interval_s = interval_s
        self._supervisor = supervisor or Supervisor()
        self._scheduler: AsyncIOScheduler | None = None
        self._wake = asyncio.Event()
        self._pending: str | None = None
        self._running_since: float | None = None  # monotonic start of the running evaluation
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: Supervised | None = None
        self._current: asyncio.Future[None] | None = None  # the evaluation running now
        self.evaluations = 0
        self.coalesced = 0

    @property
    def busy(self) -> bool:
        return self._running_since is not None

    def running_s(self) -> float | None:
        """How long the running evaluation has been running; None when idle."""
        since = self._running_since
        return None if since is None else time.monotonic() - since

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        # A coroutine job runs on the event loop (a plain function would run in a thread
        # pool, and trigger() is not thread-safe).
        self._scheduler.add_job(self._scheduled, self._trigger(), id=self.JOB_ID,
                                coalesce=True, max_instances=1, misfire_grace_time=None)
        self._scheduler.start()
        self._worker = self._supervisor.spawn("evaluations", self._work)
        logger.info("schedule: every {}s aligned to the clock, next at {}", self.interval_s,
                    datetime.fromtimestamp(next_aligned(time.time(), self.interval_s), UTC)
                    .strftime("%H:%M:%S"))

    def _trigger(self) -> IntervalTrigger:
        start = datetime.fromtimestamp(next_aligned(time.time(), self.interval_s), UTC)
        return IntervalTrigger(seconds=self.interval_s, start_date=start, timezone=UTC)

    def reschedule(self, interval_s: int) -> None:
        if interval_s == self.interval_s:
            return
        self.interval_s = interval_s
        if self._scheduler is not None:
            self._scheduler.reschedule_job(self.JOB_ID, trigger=self._trigger())
            logger.info("schedule: interval now {}s", interval_s)

    async def _scheduled(self) -> None:
        self.trigger("schedule")

    def trigger(self, reason: str) -> None:
        """Ask for an evaluation. Cheap and synchronous; safe from any callback."""
        if self._pending is not None:
            self.coalesced += 1
            return
        self._pending = reason
        self._wake.set()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            reason = self._pending
            self._pending = None
            if reason is None:
                continue
            self._running_since = time.monotonic()
            self._idle.clear()
            task = self._current = asyncio.ensure_future(self._evaluate(reason))
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise
            finally:
                self._current = None
                self._running_since = None
                self._idle.set()
                self.evaluations += 1
            if task.cancelled():
                logger.warning("evaluation ({}) aborted", reason)
            elif (exc := task.exception()) is not None:
                logger.opt(exception=exc).error("evaluation ({}) failed", reason)

    async def abort(self) -> None:
        """Cancel the evaluation running now, if any (the lease was lost or the books are
        not to be trusted: hands off the exchange at once); later triggers still run."""
        task = self._current
        while task is not None and not task.done():
            task.cancel()  # again if a cancel was swallowed on the way (as a client can)
            try:
                await asyncio.wait_for(self._idle.wait(), ABORT_WAIT_S)
            except TimeoutError:
                logger.warning("evaluation still running {}s after it was aborted; "
                               "cancelling it again", ABORT_WAIT_S)

    async def stop(self, *, abandon: bool = False) -> None:
        """Stop triggering; wait for a running evaluation to end (the caller bounds this),
        or with ``abandon`` cancel it (its order state is in Redis for the next start)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self._pending = None
        if self._worker is not None:
            if not abandon:
                await self._idle.wait()
            await self._supervisor.cancel(self._worker)
            self._worker = None
