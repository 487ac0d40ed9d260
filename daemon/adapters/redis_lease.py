"""The trading lease in Redis: one owner token per account+symbol key, with a TTL, renewed and
released by compare-and-set on the owner (Lua scripts of the store).

A portfolio of several pairs holds it on its process key AND on every pair's own books-prefix
key (``bot:<PAIR>:lease``), all at once in one script: the pair's fenced writes check the
pair's key, so no other process (a single-pair daemon of that pair, another basket holding the
same asset) writes that pair's books meanwhile. For one pair both are the same key."""

from __future__ import annotations

from collections.abc import Sequence

from daemon.adapters.redis_records import as_text
from daemon.adapters.redis_store import RedisStore


class RedisLease:
    """Standby (waiting for the lease) is the engine's (daemon.runtime.lease)."""

    def __init__(self, store: RedisStore, pair_keys: Sequence[str] = ()) -> None:
        """``pair_keys``: the pairs' own lease keys held with the process's (``store``'s)."""
        self.store = store
        self.key = store.key("lease")
        self.keys = list(dict.fromkeys([self.key, *pair_keys]))  # the process's first

    async def acquire(self, owner: str, ttl_s: float) -> bool:
        """True when ``owner`` holds the lease now (fresh, or already its own)."""
        r = await self.store.call("lease acquire", self.store._scripts["LEASE_ACQUIRE"](
            keys=self.keys, args=[owner, _ttl_ms(ttl_s)]))
        return int(r) == 1

    async def renew(self, owner: str, ttl_s: float) -> bool:
        """Extend the TTL if ``owner`` still holds the lease; False when it lost it."""
        r = await self.store.call("lease renew", self.store._scripts["LEASE_RENEW"](
            keys=self.keys, args=[owner, _ttl_ms(ttl_s)]))
        return int(r) == 1

    async def release(self, owner: str) -> bool:
        r = await self.store.call("lease release", self.store._scripts["LEASE_RELEASE"](
            keys=self.keys, args=[owner]))
        return int(r) == 1

    async def holder(self) -> str | None:
        """The owner of the process's key (``reload`` signals it)."""
        return as_text(await self.store.call("lease get", self.store.client.get(self.key),
                                            keys={self.key: "string"}))

    async def blocker(self, owner: str) -> str | None:
        """The owner of the first of the keys held by another than ``owner`` (what keeps
        ``acquire`` from taking the lease); None when every key is free or ``owner``'s."""
        for key in self.keys:
            held = as_text(await self.store.call("lease get", self.store.client.get(key),
                                                 keys={key: "string"}))
            if held is not None and held != owner:
                return held
        return None



def _ttl_ms(ttl_s: float) -> int:
    ms = int(ttl_s * 1000)
    if ms <= 0:
        raise ValueError(f"lease ttl must be > 0 s, got {ttl_s}")
    return ms
