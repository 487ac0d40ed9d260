"""Operator requests to evaluate now (``rebalancer rebalance-now``), the daemon's side.

Only the instance that may decide (lease phase TRADING) takes requests from Redis, one at a
time (``daemon.adapters.redis_requests``); each one triggers an evaluation ("manual"). The next
decision takes every request waiting and is recorded with trigger ``manual`` and their reasons;
each request is answered with the plan record it caused, or with a note saying why no decision
was made (e.g. an order still being followed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger

from daemon.adapters import redis_requests as rq
from daemon.adapters.redis_store import RedisStore
from daemon.errors import StateError, StoreUnavailable
from daemon.runtime.lease import TradingLease

POLL_S = 1.0  # BLPOP wait: how long a request may wait for a daemon that is free to take it


class ManualRequests:
    def __init__(self, store: RedisStore, lease: TradingLease, trigger: Callable[[str], None],
                 wall_ms: Callable[[], int], *, poll_s: float = POLL_S) -> None:
        self._store = store
        self._lease = lease
        self._trigger = trigger
        self._wall_ms = wall_ms
        self._poll_s = poll_s
        self._pending: list[rq.ManualRequest] = []

    async def run(self) -> None:
        """Take requests while this instance may decide; never dies (errors are logged)."""
        while True:
            if not self._lease.may_decide:
                await asyncio.sleep(self._poll_s)
                continue
            try:
                request = await rq.take_request(self._store, self._poll_s)
            except StoreUnavailable:
                await asyncio.sleep(self._poll_s)  # the store logs the outage once
                continue
            except StateError as exc:  # a request we cannot read: dropped, said
                logger.error("manual request not understood (dropped): {}", exc)
                continue
            if request is not None:
                await self._take(request)

    async def _take(self, request: rq.ManualRequest) -> None:
        logger.info("manual evaluation requested ({}): {}", request.id,
                    request.reason or "no reason given")
        self._pending.append(request)
        await self._reply(request, {"taken_ms": self._wall_ms()})
        self._trigger("manual")

    def take_all(self) -> list[rq.ManualRequest]:
        """The requests a decision about to be made answers."""
        taken, self._pending = self._pending, []
        return taken

    async def answer(self, requests: list[rq.ManualRequest], record: dict[str, Any]) -> None:
        for request in requests:
            await self._reply(request, {"taken_ms": self._wall_ms(), "plan": record})

    async def decline(self, note: str) -> None:
        """No decision now: every waiting request is told why."""
        for request in self.take_all():
            await self._reply(request, {"taken_ms": self._wall_ms(), "note": note})

    async def _reply(self, request: rq.ManualRequest, reply: dict[str, Any]) -> None:
        try:
            await rq.write_reply(self._store, request.id, reply)
        except (StoreUnavailable, StateError) as exc:
            logger.warning("manual request {}: reply not written ({})", request.id, exc)
