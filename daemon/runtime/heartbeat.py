"""The heartbeat tick, every ``health.heartbeat_interval_s``: the lease (renew it, or take
it and recover), the books watch (Redis lost or rolled back the books: stop, reload,
reconcile; books written behind us, e.g. ``core set``: reloaded, so that decisions read them
from memory), the heartbeat key in Redis (the lease holder's only), the halt policy and the
LOST-order watch.

A tick never raises: a failure is logged and tried again at the next tick (a Redis outage is
logged once by the store; trading waits for it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_records import Halt, books_gone
from daemon.adapters.redis_store import RedisStore
from daemon.domain.orders import OrderState, OrderStatusReported
from daemon.errors import ExchangeError, LeaseLost, StateError, StoreUnavailable
from daemon.runtime.executor import Executor
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.resolution import Found, Patience, resolve
from daemon.runtime.scheduler import EvaluationScheduler
from daemon.runtime.settings_ref import SettingsRef

LOST_CHECK_EVERY_S = 30.0


class Heartbeat:
    def __init__(self, settings: SettingsRef, *, store: RedisStore, rest: MexcRest,
                 lease: TradingLease, ledger: Ledger, executor: Executor,
                 scheduler: EvaluationScheduler, recover: Callable[[], Awaitable[None]],
                 checkpoint: Callable[[], dict[str, Any]], wall_ms: Callable[[], int]) -> None:
        self._settings = settings
        self._store = store
        self._rest = rest
        self._lease = lease
        self._ledger = ledger
        self._executor = executor
        self._scheduler = scheduler
        self._recover = recover
        self._checkpoint = checkpoint
        self._wall_ms = wall_ms
        self._last_lost_check = 0.0
        self._recovery_failure: str | None = None
        self.on_halt: Callable[[Halt | None], None] = lambda halt: None  # each read of the flag

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._settings.current.health.heartbeat_interval_s)

    async def tick(self) -> None:
        """The lease first; then, while it holds, each step on its own, so that one failing
        (the heartbeat's checkpoint, say) does not keep the halt policy from cancelling."""
        if not await self._step(self._lease_tick) or not self._lease.holds:
            return  # a standby writes nothing; stopping: the stop writes the last beat
        await self._step(self._beat)
        await self._step(self._halt_policy)
        await self._step(self._watch_lost)

    async def _step(self, step: Callable[[], Awaitable[None]]) -> bool:
        try:
            await step()
            return True
        except StoreUnavailable:
            return False  # the store logs the outage once; trading waits for it
        except Exception:
            logger.exception("heartbeat step {} failed; trying again at the next tick",
                             step.__name__.lstrip("_"))
            return False

    async def _beat(self) -> None:
        s = self._settings.current
        await self._store.heartbeat(s.redis.heartbeat_ttl_s, self._checkpoint())

    async def _lease_tick(self) -> None:
        lease = self._lease
        if lease.phase is Phase.STANDBY:
            if await lease.take():
                await self._try_recover()
            return
        await lease.renew()
        if lease.phase is Phase.TRADING:
            await self._watch_books()
        if lease.phase in (Phase.STANDBY, Phase.RECOVERING):
            await self._scheduler.abort()  # hands off the exchange at once
        if lease.phase is Phase.RECOVERING:  # a recovery that failed is tried again
            await self._try_recover()

    async def _watch_books(self) -> None:
        """A Redis that lost or rolled back the books while we trade (restarted without
        persistence, a stale snapshot loaded, the keys deleted) is noticed here: trading stops
        and recovery reloads and reconciles; nothing is written on them meanwhile (the fence
        refuses it anyway)."""
        view = self._store.view
        if view is None:
            return
        try:
            schema, epoch, version = await self._store.books_marker()
            gone = books_gone(self._store.prefix, view, schema, epoch, version)
            if gone is None and version is not None:
                # written behind us (``core set``): the books decisions read from memory
                await self._ledger.catch_up(version)
        except StateError as exc:  # e.g. a key of the wrong type; BooksLost on the reload
            self._lease.suspend(str(exc))
            return
        if gone is not None:
            self._lease.suspend(gone)

    async def _try_recover(self) -> None:
        """Recovery, its failure said once per distinct reason (it is tried every tick)."""
        try:
            await self._recover()
        except (StateError, ExchangeError) as exc:
            reason = f"recovery failed: {exc}"
            if reason != self._recovery_failure:
                logger.error("{}; not trading, trying again every {}s", reason,
                             self._settings.current.health.heartbeat_interval_s)
            self._recovery_failure = reason
        else:
            self._recovery_failure = None

    async def _halt_policy(self) -> None:
        """A halt cancels the order in flight at once (``execution.on_halt: cancel``), not
        only at the next decision, which waits for that order."""
        halt = await self._store.get_halt()
        self.on_halt(halt)
        ex = self._executor
        if ex.in_flight is None or self._settings.current.execution.on_halt != "cancel":
            return
        if halt is not None:
            logger.warning("halted: cancelling the order in flight")
            await ex.cancel_in_flight()

    async def _watch_lost(self, every_s: float = LOST_CHECK_EVERY_S) -> None:
        """LOST orders are asked about again now and then while watched: one that turns up
        becomes open again and is followed before the next decision."""
        if not self._lease.may_decide or time.monotonic() - self._last_lost_check < every_s:
            return
        self._last_lost_check = time.monotonic()
        settings = self._settings.current
        now, watch_s = self._wall_ms(), settings.execution.lost_order_watch_s
        for order in [o for o in self._ledger.orders.values() if o.status is OrderState.LOST
                      and not o.lost_watch_over(now, watch_s)]:
            found = await resolve(self._rest, settings.symbol, order.client_order_id,
                                  Patience.once(settings.execution))
            if isinstance(found, Found):
                report = found.report
                logger.bind(client_order_id=order.client_order_id).warning(
                    "a LOST order turned up at the exchange ({}); following it",
                    report.status.value)
                try:
                    await self._ledger.apply_to_known(order.client_order_id,
                                                      OrderStatusReported(report))
                except LeaseLost as exc:
                    self._lease.lost(str(exc))
                    return
                except StateError as exc:
                    self._lease.suspend(str(exc))
                    return
                self._scheduler.trigger("revived_order")
