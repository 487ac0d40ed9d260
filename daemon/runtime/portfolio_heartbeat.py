"""The heartbeat of a portfolio: the single pair's tick (``Heartbeat``: the ONE lease, the
heartbeat key, the halt policy, the books watch, the LOST watch), its per-pair steps run for
every pair (its store's view of its books, its executor's order in flight, its LOST orders on
its own symbol)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from daemon.adapters.redis_store import RedisStore
from daemon.runtime.executor import Executor
from daemon.runtime.heartbeat import LOST_CHECK_EVERY_S, Heartbeat
from daemon.runtime.ledger import Ledger
from daemon.runtime.settings_ref import SettingsRef


class Pair(Protocol):
    settings: SettingsRef
    store: RedisStore
    ledger: Ledger
    executor: Executor


class PortfolioHeartbeat(Heartbeat):
    def __init__(self, pairs: Sequence[Pair], **parts: Any) -> None:
        super().__init__(**parts)
        self._pairs = tuple(pairs)

    @contextmanager
    def _on(self, pair: Pair) -> Iterator[None]:
        """The per-pair parts of ``pair`` for one step; the process's back afterwards. The
        lease, the process's keys (heartbeat, halt) and the scheduler are shared."""
        saved = (self._settings, self._store, self._ledger, self._executor)
        self._settings, self._store, self._ledger, self._executor = (
            pair.settings, pair.store, pair.ledger, pair.executor)
        try:
            yield
        finally:
            self._settings, self._store, self._ledger, self._executor = saved

    async def _each(self, step: Callable[[], Awaitable[None]]) -> None:
        for pair in self._pairs:
            with self._on(pair):
                await step()

    async def _watch_books(self) -> None:
        await self._each(super()._watch_books)

    async def _halt_policy(self) -> None:
        await self._each(super()._halt_policy)

    async def _watch_lost(self, every_s: float = LOST_CHECK_EVERY_S) -> None:
        last = self._last_lost_check
        for pair in self._pairs:
            self._last_lost_check = last  # one clock for the step, every pair asked
            with self._on(pair):
                await super()._watch_lost(every_s)
