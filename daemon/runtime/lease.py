"""The trading lease and the phase of this instance.

    STANDBY --take--> RECOVERING --recovered--> TRADING
       ^                   |    ^                  |
       |                   |    +--- suspend ------+  (books not trusted: reload, reconcile)
       +------ lease lost (renew failed) ----------+
    any --stop--> STOPPING (final: renewed until released, never taken again)

Only one instance per account and symbol trades: the one holding the Redis lease (an owner
token ``host:pid:random`` with a TTL, renewed by compare-and-set). A new holder first
reconciles with the exchange (RECOVERING) and only then decides (TRADING). A holder that is a
dead process of this host (a crashed predecessor) is taken over at once instead of waiting
out its TTL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from enum import StrEnum

from loguru import logger

from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_store import RedisStore
from daemon.errors import StoreUnavailable
from daemon.runtime.settings_ref import SettingsRef


class Phase(StrEnum):
    STANDBY = "standby"  # another instance trades (or nobody could take the lease yet)
    RECOVERING = "recovering"  # lease held; reconciling with the exchange before deciding
    TRADING = "trading"  # lease held and reconciled: may decide
    STOPPING = "stopping"  # shutting down: no new decision, the lease is released at the end


def holder_is_dead(owner: str) -> bool:
    """True when a lease owner token (``host:pid:random``) names a process of THIS host that no
    longer exists: a crashed predecessor, whose lease need not be waited out. A holder on
    another host is never judged dead (only its TTL can tell)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def new_owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class TradingLease:
    def __init__(self, store: RedisStore, settings: SettingsRef, owner: str | None = None,
                 pair_lease_keys: Sequence[str] = ()) -> None:
        """``pair_lease_keys``: every pair's own lease key, held with the process's (a
        portfolio of several pairs; see RedisLease)."""
        self._lease = RedisLease(store, pair_lease_keys)
        self._settings = settings
        self.owner = owner or new_owner_token()
        self.phase = Phase.STANDBY
        self._standby_holder: str | None = None  # logged once per holder
        self._confirmed_at: float | None = None  # monotonic start of the last renew/take won
        self.suspended: str | None = None  # why the books cannot be trusted (RECOVERING)
        # told when trading stops on a lost lease or books that cannot be trusted, and when
        # it trades again (RECOVERING -> TRADING)
        self.on_stop: Callable[[str], None] = lambda reason: None
        self.on_trading: Callable[[], None] = lambda: None

    @property
    def holds(self) -> bool:
        """The lease is ours (recovering or trading)."""
        return self.phase in (Phase.RECOVERING, Phase.TRADING)

    @property
    def may_decide(self) -> bool:
        return self.phase is Phase.TRADING

    def valid_now(self) -> bool:
        """Held (or held while stopping), and certainly still ours: the last renewal that
        succeeded was STARTED less than a TTL ago (after a pause, e.g. SIGSTOP, the process
        may not know yet that it was lost). Checked before every exchange action of the order
        follower, the cancel of a stop included."""
        if not (self.holds or self.phase is Phase.STOPPING) or self._confirmed_at is None:
            return False
        return time.monotonic() - self._confirmed_at < self._ttl_s

    def lost(self, reason: str) -> None:
        """A fenced write or the guard found the lease gone: STANDBY at once (no decision, no
        exchange action) until the heartbeat takes it again."""
        if self.holds:
            self.phase = Phase.STANDBY
            self._confirmed_at = None
            logger.error("trading lease lost ({}); standby until it can be taken again", reason)
            self.on_stop(f"trading lease lost ({reason}); standby until it can be taken again")

    def suspend(self, reason: str) -> None:
        """The books cannot be trusted (Redis lost or rolled them back, or their content is
        wrong): no decisions (RECOVERING) until recovery reloads and reconciles them."""
        if not self.holds:
            return
        self.phase = Phase.RECOVERING
        if reason != self.suspended:
            logger.error("not trading: {}; reloading the books and reconciling with the "
                         "exchange", reason)
            self.on_stop(f"the books cannot be trusted: {reason}; reloading them and "
                         "reconciling with the exchange")
        self.suspended = reason

    @property
    def _ttl_s(self) -> int:
        return self._settings.current.redis.lease_ttl_s

    async def take(self) -> bool:
        """STANDBY -> RECOVERING when the lease could be taken (free, or held by a dead
        process of this host). False (still STANDBY) when another instance holds it."""
        if self.phase is not Phase.STANDBY:
            return False
        holder: str | None = None
        started = time.monotonic()
        got = await self._lease.acquire(self.owner, self._ttl_s)
        if not got:
            holder = await self._lease.blocker(self.owner)
            if holder is not None and holder_is_dead(holder) \
                    and await self._lease.release(holder):
                logger.warning("lease holder {} is a dead process on this host; taking over",
                               holder)
                got = await self._lease.acquire(self.owner, self._ttl_s)
        if not got:
            if holder != self._standby_holder:
                logger.warning("standby: another instance ({}) holds the trading lease", holder)
                self._standby_holder = holder
            return False
        self._standby_holder = None
        self._confirmed_at = started
        self.phase = Phase.RECOVERING
        logger.info("trading lease acquired ({})", self.owner)
        return True

    def recovered(self) -> None:
        """RECOVERING -> TRADING: reconciled with the exchange, decisions may follow."""
        if self.phase is Phase.RECOVERING:
            self.phase = Phase.TRADING
            self.suspended = None
            logger.info("reconciled with the exchange: trading")
            self.on_trading()

    async def renew(self) -> None:
        """Extend the TTL. Losing the lease while holding it means STANDBY (no decisions)
        until it can be taken again; while STOPPING it is kept until released."""
        if self.phase is Phase.STANDBY:
            return
        started = time.monotonic()
        renewed = await self._lease.renew(self.owner, self._ttl_s)
        if renewed:
            self._confirmed_at = started
            return
        if self.phase is Phase.STOPPING:
            self._confirmed_at = None  # no exchange action while stopping either
        self.lost("it expired, or another instance holds it")

    @contextlib.asynccontextmanager
    async def kept_alive(self) -> AsyncIterator[None]:
        """Renewed every third of its TTL while the body runs: a recovery can take longer
        than the TTL (the heartbeat that renews it waits for the recovery), and so can a
        stop that cancels the order in flight (the heartbeat is stopped by then); its fills
        are booked under the lease."""
        async def renew_loop() -> None:
            while self.holds or self.phase is Phase.STOPPING:
                await asyncio.sleep(self._ttl_s / 3)
                with contextlib.suppress(StoreUnavailable):
                    await self.renew()

        task = asyncio.create_task(renew_loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stop(self) -> None:
        self.phase = Phase.STOPPING

    async def release(self) -> None:
        """Give the lease up (compare-and-delete on our token: harmless when not ours)."""
        self.phase = Phase.STOPPING
        with contextlib.suppress(StoreUnavailable):
            await self._lease.release(self.owner)
