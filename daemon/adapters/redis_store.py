"""The Redis state store: versioned JSON values under one key prefix, atomic writes, a trading
lease and the halt flag.

Key schema (``P`` = Settings.key_prefix, default ``bot:QRLUSDT:``), values JSON, decimals as
strings::

    P schema          "1"                              written on an empty prefix only
    P cost_basis      {...}                            cost_basis.py's dict, opaque here
    P core_floor      {"qty": "..", "updated_ms": .., "source": "fill"|"manual"}
    P counters        {"day": "YYYY-MM-DD", "trades_today": n, "last_trade_ms": ..,
                       "trades_total": n}
    P balances        {...}                            opaque
    P last_plan       {...}        P plan_history  list, newest first, capped
    P orders          hash client_order_id -> Order JSON (open and recent)
    P orders:open     set of client ids not yet terminal/LOST
    P orders:closed   zset of terminal/LOST client ids by update time (capped: recent_orders_max)
    P fills           hash trade_id -> Fill JSON (every booked fill; a trade id is booked once)
    P heartbeat       {...} with a TTL          P halted  {"reason": .., "time_ms": ..}
    P lease           owner token with a TTL

Every Redis failure (connection refused/reset, timeout, loading, read-only, OOM) raises
StoreUnavailable and flips ``available`` to False; the outage is logged once, the recovery once.
Unknown or corrupt content raises StateError naming the key and the field; it is never replaced.
A key of another Redis type (WRONGTYPE) raises StateError naming the full key and what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import redis.asyncio as aioredis
from loguru import logger
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from daemon.adapters import redis_lua
from daemon.adapters.redis_codec import fill_from_dict, fill_to_dict, order_from_dict, order_to_dict
from daemon.adapters.redis_persistence import Persistence, read_persistence
from daemon.adapters.redis_records import (
    Halt,
    StoredState,
    TradeCounters,
    decode_json,
    encode_json,
    parse_core_floor,
    parse_halt,
)
from daemon.config import Settings
from daemon.domain.models import Fill
from daemon.domain.orders import Order, OrderState
from daemon.errors import (
    IntentExists,
    LeaseLost,
    RebalancerError,
    StateError,
    StoreUnavailable,
    TradingHalted,
)

SCHEMA_VERSION = 1
T = TypeVar("T")

_UNAVAILABLE = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, OSError)
_WRITE_REFUSED = ("OOM", "MISCONF", "READONLY", "NOREPLICAS", "MASTERDOWN", "LOADING")


@dataclass(frozen=True, slots=True)
class BookResult:
    """``booked``: trade ids written now (all of the call's fills, or none). ``already``: ids
    that were booked before; when not empty NOTHING was written (the caller's cost basis was
    computed on stale state: reload, drop booked fills, recompute, retry)."""

    booked: tuple[str, ...]
    already: tuple[str, ...]
    order_saved: bool


class RedisStore:
    KNOWN = ("schema", "cost_basis", "core_floor", "counters", "balances", "last_plan",
             "plan_history", "orders", "orders:open", "orders:closed", "fills", "heartbeat",
             "halted", "lease")

    def __init__(self, url: str, prefix: str, *, plan_history_max: int = 1000,
                 recent_orders_max: int = 500, socket_timeout_s: float = 5.0) -> None:
        if not prefix:
            raise ValueError("redis key prefix must not be empty")
        self.url = url
        self.prefix = prefix
        self.plan_history_max = plan_history_max
        self.recent_orders_max = recent_orders_max
        self._timeout_s = socket_timeout_s
        self._client: aioredis.Redis | None = None
        self._available = True
        self._down_since: float | None = None
        self._scripts: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStore:
        r = settings.redis
        return cls(r.url, settings.key_prefix, plan_history_max=r.plan_history_max,
                   recent_orders_max=r.recent_orders_max)

    # ------------------------------------------------------------------ keys, lifecycle
    def key(self, name: str) -> str:
        return self.prefix + name

    @property
    def available(self) -> bool:
        """False from a failed call until the next successful one."""
        return self._available

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("RedisStore.connect() was not called")
        return self._client

    async def connect(self) -> None:
        """Create the client and PING; StoreUnavailable when Redis does not answer."""
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=self._timeout_s, socket_connect_timeout=self._timeout_s,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
            )
            for name in ("SAVE_ORDER", "WRITE_INTENT", "BOOK_FILLS", "LEASE_ACQUIRE",
                         "LEASE_RENEW", "LEASE_RELEASE"):
                self._scripts[name] = self._client.register_script(getattr(redis_lua, name))
        await self.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        await self._call("PING", self.client.ping())

    async def persistence(self) -> Persistence:
        """How the server keeps its data: INFO persistence, plus CONFIG GET appendfsync and
        save when the server allows CONFIG (refused or renamed: read from INFO alone)."""
        return await self._call("INFO persistence", read_persistence(self.client))

    async def wait_available(self, retry_interval_s: float,
                             stop: asyncio.Event | None = None) -> bool:
        """PING every ``retry_interval_s`` until Redis answers (True) or ``stop`` is set
        (False). Logs the outage once and the recovery once, not every try."""
        while stop is None or not stop.is_set():
            try:
                await self.ping()
                return True
            except StoreUnavailable:
                pass
            await _pause(stop, retry_interval_s)
        return False

    # ---------------------------------------------------------------- error translation
    def _mark_down(self, what: str, exc: BaseException) -> None:
        if self._available:
            self._available = False
            self._down_since = time.monotonic()
            logger.warning("Redis unavailable ({}: {}); trading paused until it is back", what,
                           exc)

    def _mark_up(self) -> None:
        if not self._available:
            down = time.monotonic() - (self._down_since or time.monotonic())
            self._available = True
            self._down_since = None
            logger.info("Redis reachable again after {:.1f}s; trading may resume", down)

    async def _call(self, what: str, awaitable: Awaitable[T], *,
                    keys: Mapping[str, str] | None = None) -> T:
        """Await one Redis call, translating its errors. ``keys``: full key -> the Redis type
        the call expects there; a WRONGTYPE reply then names the key(s) of another type (SET
        and DEL replace a key of any type: they never answer WRONGTYPE)."""
        try:
            result = await awaitable
        except _UNAVAILABLE as exc:
            self._mark_down(what, exc)
            raise StoreUnavailable(f"redis {what}: {exc}") from None
        except rexc.ResponseError as exc:
            text = str(exc)
            if isinstance(exc, rexc.ReadOnlyError) or text.startswith(_WRITE_REFUSED):
                self._mark_down(what, exc)
                raise StoreUnavailable(f"redis {what}: {text}") from None
            self._mark_up()
            if keys and "WRONGTYPE" in text:
                raise StateError(await self._wrong_type(keys)) from None
            raise self._script_error(what, text) from None
        self._mark_up()
        return result

    async def _wrong_type(self, keys: Mapping[str, str]) -> str:
        """'<key>: holds a list, expected a string (WRONGTYPE)' for each key of another type
        (asked with TYPE; "a value of another type" when even that fails)."""
        found = []
        for key, expected in keys.items():
            try:
                held: str | None = _text(await self.client.type(key))
            except (rexc.RedisError, OSError):
                held = None
            if held != expected and held != "none":  # "none": not this key (gone since)
                what = "a value of another type" if held is None else f"a {held}"
                found.append(f"{key}: holds {what}, expected a {expected} (WRONGTYPE)")
        return "; ".join(found) or f"{', '.join(keys)}: a value of another type (WRONGTYPE)"

    @staticmethod
    def _script_error(what: str, text: str) -> RebalancerError:
        tag, _, rest = text.partition(" ")
        if tag == "EXISTS":
            return IntentExists(rest)
        if tag == "HALTED":
            return TradingHalted(rest)
        if tag == "LEASE":
            return LeaseLost(rest)
        if tag == "STATE":
            return StateError(rest)
        return StateError(f"redis {what}: {text}")  # e.g. WRONGTYPE on a foreign key

    # ------------------------------------------------------------------------ schema
    async def check_schema(self) -> None:
        """Write the schema version on an empty prefix; StateError when the prefix holds
        another version or content without a version."""
        key = self.key("schema")
        raw = await self._call("GET schema", self.client.get(key))
        if raw is None:
            others = await self._call("SCAN", self._scan_keys())
            if others:
                shown = ", ".join(sorted(others)[:5])
                raise StateError(
                    f"{key}: missing, but {len(others)} key(s) exist under {self.prefix!r} "
                    f"({shown}); refusing to adopt content of an unknown schema")
            await self._call("SET schema", self.client.set(key, str(SCHEMA_VERSION), nx=True))
            raw = await self._call("GET schema", self.client.get(key))
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if text != str(SCHEMA_VERSION):
            raise StateError(f"{key}: schema version is {text!r}, this daemon reads "
                             f"{SCHEMA_VERSION}; migrate or use another key prefix")

    async def _scan_keys(self) -> list[str]:
        out: list[str] = []
        async for k in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
            out.append(k.decode() if isinstance(k, bytes) else str(k))
        return out

    # ------------------------------------------------------------------------- state
    async def load_state(self) -> StoredState:
        """Everything the daemon needs at startup; StateError naming key and field on
        corrupt content."""
        names = ("schema", "cost_basis", "core_floor", "counters", "balances", "last_plan",
                 "halted")
        pipe = self.client.pipeline(transaction=True)
        pipe.mget([self.key(n) for n in names])
        pipe.hgetall(self.key("orders"))
        pipe.smembers(self.key("orders:open"))
        pipe.hkeys(self.key("fills"))
        values, orders_raw, open_raw, fill_ids = await self._call("load_state", pipe.execute())
        v = dict(zip(names, values, strict=True))
        schema = _text(v["schema"])
        if schema != str(SCHEMA_VERSION):
            raise StateError(f"{self.key('schema')}: schema version is {schema!r}, this "
                             f"daemon reads {SCHEMA_VERSION} (run check_schema first)")
        orders: dict[str, Order] = {}
        hk = self.key("orders")
        for field_raw, body in orders_raw.items():
            coid = _text(field_raw) or ""
            order = order_from_dict(decode_json(body, f"{hk}[{coid}]"), key=f"{hk}[{coid}]")
            if order.client_order_id != coid:
                raise StateError(f"{hk}[{coid}]: field 'client_order_id' is "
                                 f"{order.client_order_id!r}, expected {coid!r}")
            orders[coid] = order
        open_ids = frozenset(_text(x) or "" for x in open_raw)
        missing = sorted(open_ids - orders.keys())
        if missing:
            raise StateError(f"{self.key('orders:open')}: lists {missing} that "
                             f"{hk} does not hold")
        return StoredState(
            schema_version=SCHEMA_VERSION,
            cost_basis=_opt_obj(v["cost_basis"], self.key("cost_basis")),
            core_floor=parse_core_floor(v["core_floor"], self.key("core_floor")),
            counters=TradeCounters.parse(v["counters"], self.key("counters")),
            balances=_opt_obj(v["balances"], self.key("balances")),
            last_plan=_opt_obj(v["last_plan"], self.key("last_plan")),
            halt=parse_halt(v["halted"], self.key("halted")),
            orders=orders, open_order_ids=open_ids,
            booked_trade_ids=frozenset(_text(x) or "" for x in fill_ids),
        )

    async def unknown_keys(self) -> list[str]:
        """Keys under the prefix this store does not know (for a startup report)."""
        known = {self.key(n) for n in self.KNOWN}
        return sorted(k for k in await self._call("SCAN", self._scan_keys()) if k not in known)

    # ------------------------------------------------------------------------ orders
    async def write_intent(self, order: Order, *, lease_owner: str | None = None) -> None:
        """Write-ahead: store the INTENT before the request is sent. Raises IntentExists
        (the id was written before: query it, never resend), TradingHalted, LeaseLost (when
        ``lease_owner`` is given and does not hold the lease) or StoreUnavailable. Only after
        this returns may the order be sent."""
        if order.status is not OrderState.INTENT:
            raise ValueError(f"write_intent: order {order.client_order_id} is "
                             f"{order.status}, expected INTENT")
        body = encode_json(order_to_dict(order), "order")
        keys = [self.key("orders"), self.key("orders:open"), self.key("halted"),
                self.key("lease")]
        await self._call("write_intent", self._scripts["WRITE_INTENT"](
            keys=keys, args=[order.client_order_id, body, lease_owner or ""]))

    async def save_order(self, order: Order) -> bool:
        """Store the order's new state; False (nothing written) when a newer version of it is
        already stored (a late save)."""
        keys = [self.key("orders"), self.key("orders:open"), self.key("orders:closed")]
        result = await self._call("save_order", self._scripts["SAVE_ORDER"](
            keys=keys, args=self._order_args(order)))
        return int(result) == 1

    def _order_args(self, order: Order) -> list[str | int]:
        return [order.client_order_id, encode_json(order_to_dict(order), "order"), order.version,
                1 if order.is_open else 0, order.updated_ms, self.recent_orders_max]

    async def get_order(self, client_order_id: str) -> Order | None:
        hk = self.key("orders")
        raw = await self._call("HGET order", self.client.hget(hk, client_order_id),
                               keys={hk: "hash"})
        if raw is None:
            return None
        where = f"{hk}[{client_order_id}]"
        return order_from_dict(decode_json(raw, where), key=where)

    async def book_fills(self, order: Order, fills: Sequence[Fill], *,
                         cost_basis: Mapping[str, Any], counters: TradeCounters,
                         core_floor: Decimal | None = None,
                         balances: Mapping[str, Any] | None = None,
                         now_ms: int | None = None) -> BookResult:
        """Book ``fills`` of ``order`` (whose state already includes them) together with the
        new cost basis, counters, core floor (None: keep) and balances (None: keep), in ONE
        atomic script. A trade id is booked at most once: when any of them is already booked
        nothing is written (see BookResult)."""
        if not fills:
            raise ValueError("book_fills: no fills given")
        ids = [f.trade_id for f in fills]
        if len(set(ids)) != len(ids):
            raise ValueError(f"book_fills: duplicate trade ids in one call: {ids}")
        stray = [t for t in ids if t not in order.trade_ids]
        if stray:
            raise ValueError(f"book_fills: order {order.client_order_id} does not contain "
                             f"fills {stray}; apply OrderFilled first")
        floor = "" if core_floor is None else encode_json(
            {"qty": str(core_floor), "updated_ms": now_ms or order.updated_ms,
             "source": "fill"}, "core_floor")
        args: list[str | int] = [
            *self._order_args(order), encode_json(cost_basis, "cost_basis"), floor,
            encode_json(counters.to_dict(), "counters"),
            "" if balances is None else encode_json(balances, "balances"), len(fills)]
        for f in fills:
            args += [f.trade_id, encode_json(fill_to_dict(f), "fill")]
        keys = [self.key(n) for n in ("fills", "orders", "orders:open", "orders:closed",
                                      "cost_basis", "core_floor", "counters", "balances")]
        raw = await self._call("book_fills", self._scripts["BOOK_FILLS"](keys=keys, args=args))
        if int(raw[0]) == 0:
            return BookResult((), tuple(_text(x) or "" for x in raw[1:]), False)
        return BookResult(tuple(ids), (), int(raw[1]) == 1)

    async def get_fills(self) -> list[Fill]:
        hk = self.key("fills")
        raw = await self._call("HGETALL fills", self.client.hgetall(hk), keys={hk: "hash"})
        out = []
        for tid, body in raw.items():
            where = f"{hk}[{_text(tid)}]"
            out.append(fill_from_dict(decode_json(body, where), key=where))
        return sorted(out, key=lambda f: (f.time_ms, f.trade_id))

    # ---------------------------------------------------------------- plans, health
    async def record_plan(self, plan: Mapping[str, Any]) -> None:
        """Last plan plus the capped history, in one MULTI/EXEC."""
        body = encode_json(plan, "plan")
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key("last_plan"), body)
        pipe.lpush(self.key("plan_history"), body)
        pipe.ltrim(self.key("plan_history"), 0, self.plan_history_max - 1)
        await self._call("record_plan", pipe.execute(), keys={
            self.key("last_plan"): "string", self.key("plan_history"): "list"})

    async def plan_history(self, limit: int = 100) -> list[dict[str, Any]]:
        k = self.key("plan_history")
        raw = await self._call("LRANGE", self.client.lrange(k, 0, max(limit, 1) - 1),
                               keys={k: "list"})
        return [_obj(decode_json(b, f"{k}[{i}]"), f"{k}[{i}]") for i, b in enumerate(raw)]

    async def heartbeat(self, ttl_s: int, info: Mapping[str, Any]) -> None:
        body = encode_json(info, "heartbeat")
        await self._call("heartbeat", self.client.set(self.key("heartbeat"), body, ex=ttl_s))

    # -------------------------------------------------------------- halt, core floor
    async def set_halt(self, reason: str, now_ms: int) -> None:
        if not reason.strip():
            raise ValueError("set_halt: a reason is required")
        body = encode_json({"reason": reason, "time_ms": now_ms}, "halted")
        await self._call("set_halt", self.client.set(self.key("halted"), body))

    async def clear_halt(self) -> bool:
        return bool(await self._call("clear_halt", self.client.delete(self.key("halted"))))

    async def get_halt(self) -> Halt | None:
        k = self.key("halted")
        raw = await self._call("GET halted", self.client.get(k), keys={k: "string"})
        return parse_halt(raw, k)

    async def set_core_floor(self, qty: Decimal, now_ms: int, source: str = "manual") -> None:
        if not qty.is_finite() or qty < 0:
            raise ValueError(f"core floor must be a finite quantity >= 0, got {qty}")
        body = encode_json({"qty": str(qty), "updated_ms": now_ms, "source": source},
                           "core_floor")
        await self._call("set_core_floor", self.client.set(self.key("core_floor"), body))

    async def set_cost_basis(self, cost_basis: Mapping[str, Any]) -> None:
        """The initial cost basis (first start); later changes go through book_fills."""
        body = encode_json(cost_basis, "cost_basis")
        await self._call("set_cost_basis", self.client.set(self.key("cost_basis"), body))

    async def get_core_floor(self) -> Decimal | None:
        k = self.key("core_floor")
        raw = await self._call("GET core_floor", self.client.get(k), keys={k: "string"})
        return parse_core_floor(raw, k)


class RedisLease:
    """The trading lease: one owner token per account+symbol key, with a TTL, renewed by
    compare-and-set on the owner (Lua). Standby (waiting for the lease) is the engine's."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.key = store.key("lease")

    async def acquire(self, owner: str, ttl_s: float) -> bool:
        """True when ``owner`` holds the lease now (fresh, or already its own)."""
        r = await self.store._call("lease acquire", self.store._scripts["LEASE_ACQUIRE"](
            keys=[self.key], args=[owner, _ttl_ms(ttl_s)]))
        return int(r) == 1

    async def renew(self, owner: str, ttl_s: float) -> bool:
        """Extend the TTL if ``owner`` still holds the lease; False when it lost it."""
        r = await self.store._call("lease renew", self.store._scripts["LEASE_RENEW"](
            keys=[self.key], args=[owner, _ttl_ms(ttl_s)]))
        return int(r) == 1

    async def release(self, owner: str) -> bool:
        r = await self.store._call("lease release", self.store._scripts["LEASE_RELEASE"](
            keys=[self.key], args=[owner]))
        return int(r) == 1

    async def holder(self) -> str | None:
        return _text(await self.store._call("lease get", self.store.client.get(self.key),
                                            keys={self.key: "string"}))


async def _pause(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _ttl_ms(ttl_s: float) -> int:
    ms = int(ttl_s * 1000)
    if ms <= 0:
        raise ValueError(f"lease ttl must be > 0 s, got {ttl_s}")
    return ms


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _text(raw: object) -> str | None:
    if raw is None:
        return None
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StateError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _opt_obj(raw: object, where: str) -> dict[str, Any] | None:
    return None if raw is None else _obj(decode_json(raw, where), where)
