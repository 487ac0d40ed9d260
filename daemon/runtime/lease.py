"""The trading lease and the phase of this instance.

    STANDBY --take--> RECOVERING --recovered--> TRADING
       ^                   |                       |
       +------ lease lost (renew failed) ----------+
    any --stop--> STOPPING (final: renewed until released, never taken again)

Only one instance per account and symbol trades: the one holding the Redis lease (an owner
token ``host:pid:random`` with a TTL, renewed by compare-and-set). A new holder first
reconciles with the exchange (RECOVERING) and only then decides (TRADING). A holder that is a
dead process of this host (a crashed predecessor) is taken over at once instead of waiting
out its TTL."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from enum import StrEnum

from loguru import logger

from daemon.adapters.redis_store import RedisLease, RedisStore
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
    def __init__(self, store: RedisStore, settings: SettingsRef, owner: str | None = None) -> None:
        self._lease = RedisLease(store)
        self._settings = settings
        self.owner = owner or new_owner_token()
        self.phase = Phase.STANDBY
        self._standby_holder: str | None = None  # logged once per holder

    @property
    def holds(self) -> bool:
        """The lease is ours (recovering or trading)."""
        return self.phase in (Phase.RECOVERING, Phase.TRADING)

    @property
    def may_decide(self) -> bool:
        return self.phase is Phase.TRADING

    @property
    def _ttl_s(self) -> int:
        return self._settings.current.redis.lease_ttl_s

    async def take(self) -> bool:
        """STANDBY -> RECOVERING when the lease could be taken (free, or held by a dead
        process of this host). False (still STANDBY) when another instance holds it."""
        if self.phase is not Phase.STANDBY:
            return False
        holder: str | None = None
        got = await self._lease.acquire(self.owner, self._ttl_s)
        if not got:
            holder = await self._lease.holder()
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
        self.phase = Phase.RECOVERING
        logger.info("trading lease acquired ({})", self.owner)
        return True

    def recovered(self) -> None:
        """RECOVERING -> TRADING: reconciled with the exchange, decisions may follow."""
        if self.phase is Phase.RECOVERING:
            self.phase = Phase.TRADING
            logger.info("reconciled with the exchange: trading")

    async def renew(self) -> None:
        """Extend the TTL. Losing the lease while holding it means STANDBY (no decisions)
        until it can be taken again; while STOPPING it is kept until released."""
        if self.phase is Phase.STANDBY:
            return
        renewed = await self._lease.renew(self.owner, self._ttl_s)
        if not renewed and self.holds:
            self.phase = Phase.STANDBY
            logger.error("trading lease lost (it expired, or another instance holds it); "
                         "standby until it can be taken again")

    def stop(self) -> None:
        self.phase = Phase.STOPPING

    async def release(self) -> None:
        """Give the lease up (compare-and-delete on our token: harmless when not ours)."""
        self.phase = Phase.STOPPING
        with contextlib.suppress(StoreUnavailable):
            await self._lease.release(self.owner)
