"""The trading lease in Redis: one owner token per account+symbol key, with a TTL, renewed and
released by compare-and-set on the owner (Lua scripts of the store)."""

from __future__ import annotations

from daemon.adapters.redis_records import as_text
from daemon.adapters.redis_store import RedisStore


class RedisLease:
    """Standby (waiting for the lease) is the engine's (daemon.runtime.lease)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.key = store.key("lease")

    async def acquire(self, owner: str, ttl_s: float) -> bool:
        """True when ``owner`` holds the lease now (fresh, or already its own)."""
        r = await self.store.call("lease acquire", self.store._scripts["LEASE_ACQUIRE"](
            keys=[self.key], args=[owner, _ttl_ms(ttl_s)]))
        return int(r) == 1

    async def renew(self, owner: str, ttl_s: float) -> bool:
        """Extend the TTL if ``owner`` still holds the lease; False when it lost it."""
        r = await self.store.call("lease renew", self.store._scripts["LEASE_RENEW"](
            keys=[self.key], args=[owner, _ttl_ms(ttl_s)]))
        return int(r) == 1

    async def release(self, owner: str) -> bool:
        r = await self.store.call("lease release", self.store._scripts["LEASE_RELEASE"](
            keys=[self.key], args=[owner]))
        return int(r) == 1

    async def holder(self) -> str | None:
        return as_text(await self.store.call("lease get", self.store.client.get(self.key),
                                            keys={self.key: "string"}))



def _ttl_ms(ttl_s: float) -> int:
    ms = int(ttl_s * 1000)
    if ms <= 0:
        raise ValueError(f"lease ttl must be > 0 s, got {ttl_s}")
    return ms
