"""The Redis state store: versioned JSON values under one key prefix, atomic writes, a trading
lease and the halt flag.

Key schema (``P`` = Settings.key_prefix, default ``bot:QRLUSDT:``), values JSON, decimals as
strings::

    P schema          "3"                              written on an empty prefix; "1" (before
                                                       the core credit) and "2" (every fill in
                                                       one hash) are migrated at start
    P epoch           random hex token                 one life of the books (new on rebuild)
    P books           integer                          the books version: +1 per fenced write
    P cost_basis      {...}                            cost_basis.py's dict, opaque here
    P core_floor      {"qty": "..", "credit": "..", "updated_ms": ..,
                       "source": "fill"|"init"|"manual"|"rebuild"}  (no credit: schema 1, 0)
    P counters        {"day": "YYYY-MM-DD", "trades_today": n, "last_trade_ms": ..,
                       "trades_total": n}
    P balances        {...}                            opaque
    P last_plan       {...}        P plan_history  list, newest first, capped
    P orders          hash client_order_id -> Order JSON (open and recent)
    P orders:open     set of client ids not settled: open at the venue, or ended owing fills
    P orders:closed   zset of terminal/LOST client ids by update time (capped: recent_orders_max;
                      the orders trimmed move to the archive)
    P archive:...     every booked fill (a trade id is booked once) and the orders that aged
                      out, in per-month hashes: see redis_archive
    P heartbeat       {...} with a TTL          P halted  {"reason": .., "time_ms": ..}
    P lease           owner token with a TTL
    P reload          hash owner token -> the outcome of its last config reload (redis_reload)

Every Redis failure (connection refused/reset, timeout, loading, read-only, OOM) raises
StoreUnavailable and flips ``available`` to False; the outage is logged once, the recovery once.
Unknown or corrupt content, or a key of the wrong type (WRONGTYPE included), raises StateError
naming the full key, what it holds and the field; it is never replaced. Every write of the books
is fenced (redis_lua): it is accepted only from the view the writer last read or wrote
(``view``), else BooksChanged (reload and decide again) or BooksLost (Redis lost or rolled back
the books: never write on).
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

from daemon.adapters import redis_lua, redis_schema
from daemon.adapters.redis_archive import (
    ARCHIVE_KEY_RE,
    FILLS,
    MONTHS,
    ORDERS,
    Archive,
    dedup_months,
    month_of,
)
from daemon.adapters.redis_codec import (
    fill_to_dict,
    order_from_dict,
    order_to_dict,
    parse_orders,
)
from daemon.adapters.redis_persistence import Persistence, read_persistence
from daemon.adapters.redis_records import (
    BooksView,
    Halt,
    StoredState,
    TradeCounters,
    as_text,
    core_record,
    decode_json,
    encode_json,
    hash_pairs,
    json_object,
    opt_json_object,
    parse_core,
    parse_counters,
    parse_halt,
    parse_heartbeat,
    parse_view,
)
from daemon.adapters.redis_schema import SCHEMA_VERSION
from daemon.config import Settings
from daemon.domain.cost_basis import Core
from daemon.domain.models import Fill
from daemon.domain.orders import Order, OrderState
from daemon.errors import (
    BooksChanged,
    BooksLost,
    IntentExists,
    LeaseLost,
    RebalancerError,
    StateError,
    StoreUnavailable,
    TradingHalted,
)

SCRIPTS = ("SAVE_ORDER", "WRITE_INTENT", "BOOK_FILLS", "SET_BOOKS_VALUE", "INIT_SCHEMA",
           "LOAD_STATE", "BOOKS_MARKER", "LEASE_ACQUIRE", "LEASE_RENEW", "LEASE_RELEASE")
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
    KNOWN = ("schema", "epoch", "books", "cost_basis", "core_floor", "counters", "balances",
             "last_plan", "plan_history", "orders", "orders:open", "orders:closed",
             MONTHS, "heartbeat", "halted", "lease", "reload")

    # the keys of the process, not of the books: with ``process_prefix`` (a portfolio of
    # several pairs, each pair's books under its own prefix) they live under that prefix, so
    # that every pair's fenced writes check the ONE halt flag of the process. The lease is held
    # there AND on every pair's own ``<books prefix>lease`` (RedisLease): a pair's fenced
    # writes check the PAIR's key (``books_lease_key``), which fences the pair's books against
    # any other process trading that pair (issue 18)
    PROCESS_KEYS = frozenset({"lease", "heartbeat", "halted", "last_plan", "plan_history",
                              "reload", "manual_requests", "manual_replies"})

    def __init__(self, url: str, prefix: str, *, plan_history_max: int = 1000,
                 recent_orders_max: int = 500, socket_timeout_s: float = 5.0,
                 process_prefix: str | None = None) -> None:
        if not prefix or process_prefix == "":
            raise ValueError("redis key prefix must not be empty")
        self.url = url
        self.prefix = prefix
        self.process_prefix = process_prefix
        self.plan_history_max = plan_history_max
        self.recent_orders_max = recent_orders_max
        self._timeout_s = socket_timeout_s
        self._client: aioredis.Redis | None = None
        self._available = True
        self._down_since: float | None = None
        self._outages_s = 0.0  # the outages that ended (outage_s adds the current one)
        self._scripts: dict[str, Any] = {}
        self.view: BooksView | None = None  # of the last load_state or fenced write
        self._write_lock = asyncio.Lock()  # this process's fenced writes, one at a time

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStore:
        r = settings.redis
        return cls(r.url, settings.key_prefix, plan_history_max=r.plan_history_max,
                   recent_orders_max=r.recent_orders_max)

    # ------------------------------------------------------------------ keys, lifecycle
    def key(self, name: str) -> str:
        if self.process_prefix is not None and name in self.PROCESS_KEYS:
            return self.process_prefix + name
        return self.prefix + name

    @property
    def books_lease_key(self) -> str:
        """The lease key this store's fenced writes check: the pair's own (its books prefix);
        the process's ``key("lease")`` too for a single pair."""
        return self.prefix + "lease"

    @property
    def available(self) -> bool:
        """False from a failed call until the next successful one."""
        return self._available

    def outage_s(self) -> float:
        """Seconds Redis was unavailable since this store was made, the current outage
        included (a figure for the metrics)."""
        now = time.monotonic()
        return self._outages_s + (0.0 if self._down_since is None else now - self._down_since)

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
            for name in SCRIPTS:
                self._scripts[name] = self._client.register_script(getattr(redis_lua, name))
        await self.ping()
        await self._load_scripts()

    async def _load_scripts(self) -> None:
        """SCRIPT LOAD every script now, in one round trip: the first write-ahead of a run is
        then one EVALSHA too, not EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA (a Redis restarted
        since, its script cache empty, is still served by the client's reload)."""
        pipe = self.client.pipeline(transaction=False)
        for name in SCRIPTS:
            pipe.script_load(getattr(redis_lua, name))
        await self.call("SCRIPT LOAD", pipe.execute())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        await self.call("PING", self.client.ping())

    async def persistence(self) -> Persistence:
        """How the server keeps its data: INFO persistence, plus CONFIG GET appendfsync and
        save when the server allows CONFIG (refused or renamed: read from INFO alone)."""
        return await self.call("INFO persistence", read_persistence(self.client))

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
            self._outages_s += down
            logger.info("Redis reachable again after {:.1f}s; trading may resume", down)

    async def call(self, what: str, awaitable: Awaitable[T], *,
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
                held: str | None = as_text(await self.client.type(key))
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
        if tag == "CHANGED":
            return BooksChanged(rest)
        if tag == "LOST":
            return BooksLost(rest)
        return StateError(f"redis {what}: {text}")  # e.g. WRONGTYPE on a foreign key

    # ------------------------------------------------------------------------ schema
    async def check_schema(self) -> None:
        """Create schema, epoch and books version on an empty prefix, or migrate an older
        schema (redis_schema); StateError when the prefix holds another version or content
        without a version."""
        await redis_schema.check_schema(self)

    async def _scan_keys(self) -> list[str]:
        out: list[str] = []
        async for k in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
            out.append(k.decode() if isinstance(k, bytes) else str(k))
        return out

    # ------------------------------------------------------------------------- state
    _LOADED = ("schema", "epoch", "books", "cost_basis", "core_floor", "counters", "balances",
               "last_plan", "halted", "orders", "orders:open", "orders:closed",
               "plan_history", "heartbeat", "lease")

    async def load_state(self, *, adopt: bool = True, recent: int | None = None,
                         since_ms: int | None = None) -> StoredState:
        """Everything the daemon needs at startup, read atomically with every key's type
        checked; StateError naming the full key (and field) on anything unexpected. Orders:
        the open ones, the ``recent`` newest closed ones (None: all the recent ones Redis
        keeps) and every closed one updated since ``since_ms``. With ``adopt`` the view read
        becomes the one fenced writes are accepted from (only once everything parsed); the
        ledger adopts it itself, after parsing what it parses."""
        recent_n = self.recent_orders_max if recent is None else recent
        since = "+inf" if since_ms is None else str(since_ms)
        raw = await self.call("load_state", self._scripts["LOAD_STATE"](
            keys=[self.key(n) for n in self._LOADED],
            args=[max(recent_n, 0), since, self.recent_orders_max]))
        v = {n: (x if x is not False else None) for n, x in zip(self._LOADED[:9], raw[:9],
                                                                  strict=True)}
        schema = as_text(v["schema"])
        if schema != str(SCHEMA_VERSION):
            what = "missing" if schema is None else f"{schema!r}"
            raise StateError(f"{self.key('schema')}: schema version is {what}, this daemon "
                             f"reads {SCHEMA_VERSION} (run check_schema first)")
        view = parse_view(self.prefix, v)
        core = parse_core(v["core_floor"], self.key("core_floor"))
        pairs = hash_pairs(raw[9])
        missing = sorted(c for c, body in pairs.items() if body is None)
        if missing:
            raise StateError(f"{self.key('orders:open')}: lists {missing} that "
                             f"{self.key('orders')} does not hold")
        orders = parse_orders(self.key("orders"), pairs)
        state = StoredState(
            schema_version=SCHEMA_VERSION, view=view,
            cost_basis=opt_json_object(v["cost_basis"], self.key("cost_basis")),
            core_floor=core.floor, core_credit=core.credit,
            counters=parse_counters(v["counters"], self.key("counters")),
            balances=opt_json_object(v["balances"], self.key("balances")),
            last_plan=opt_json_object(v["last_plan"], self.key("last_plan")),
            halt=parse_halt(v["halted"], self.key("halted")),
            orders=orders, open_order_ids=frozenset(as_text(x) or "" for x in raw[10]),
        )
        if adopt:
            self.view = view
        return state

    async def books_marker(self) -> tuple[str | None, str | None, int | None]:
        """(schema, epoch, books version) as Redis holds them now: cheap, for noticing a
        Redis that lost or rolled back the books while the daemon runs."""
        keys = [self.key(n) for n in ("schema", "epoch", "books")]
        raw = await self.call("books marker", self._scripts["BOOKS_MARKER"](keys=keys,
                                                                              args=[]))
        schema, epoch, version = (None if x is False else as_text(x) for x in raw)
        if version is not None and not version.isdigit():
            raise StateError(f"{keys[2]}: not a version number: {version!r}")
        return schema, epoch, None if version is None else int(version)

    async def unknown_keys(self) -> list[str]:
        """Keys under the prefix this store does not know (for a startup report)."""
        known = {self.key(n) for n in self.KNOWN}
        return sorted(k for k in await self.call("SCAN", self._scan_keys()) if k not in known
                      and not ARCHIVE_KEY_RE.fullmatch(k[len(self.prefix):]))

    # ------------------------------------------------------------------------ orders
    async def write_intent(self, order: Order, *, lease_owner: str | None = None,
                           plan: Mapping[str, Any] | None = None) -> None:
        """Write-ahead: store the INTENT before the request is sent, with ``plan`` (the plan
        record that decided it, as ``record_plan`` writes it) in the same script: ONE round
        trip. Raises IntentExists (the id was written before: query it, never resend),
        TradingHalted, LeaseLost (when ``lease_owner`` is given and does not hold the lease),
        BooksChanged / BooksLost (the fence: see redis_lua) or StoreUnavailable; then nothing
        was written, the plan neither. Only after this returns may the order be sent."""
        if order.status is not OrderState.INTENT:
            raise ValueError(f"write_intent: order {order.client_order_id} is "
                             f"{order.status}, expected INTENT")
        body = encode_json(order_to_dict(order), "order")
        record = "" if plan is None else encode_json(plan, "plan")
        await self._fenced("WRITE_INTENT", "write_intent", lease_owner,
                           ["orders", "orders:open", "halted", "last_plan", "plan_history"],
                           [order.client_order_id, body, record, self.plan_history_max])

    async def save_order(self, order: Order, *, lease_owner: str | None = None) -> bool:
        """Store the order's new state; False (nothing written) when a newer version of it is
        already stored (a late save)."""
        month = month_of(order.updated_ms)
        out = await self._fenced("SAVE_ORDER", "save_order", lease_owner,
                                 ["orders", "orders:open", "orders:closed", ORDERS + month,
                                  MONTHS], self._order_args(order))
        return int(out[0]) == 1

    def _order_args(self, order: Order) -> list[str | int]:
        unsettled = order.is_open or order.unbooked_qty > 0  # followed until its fills are in
        return [order.client_order_id, encode_json(order_to_dict(order), "order"), order.version,
                1 if unsettled else 0, order.updated_ms, self.recent_orders_max,
                month_of(order.updated_ms)]

    async def _fenced(self, script: str, what: str, owner: str | None, names: Sequence[str],
                      args: Sequence[str | int], *, operator: bool = False) -> list[Any]:
        """Run a fenced write (see redis_lua) from the current view; the reply's view becomes
        the current one. ``operator``: a command's write, which checks no view."""
        async with self._write_lock:
            view = self.view
            if view is None and not operator:
                raise RuntimeError(f"{what}: load_state() first (no view of the books)")
            fence_args: list[str | int] = (
                [owner or "", "*", "*", "*"] if operator or view is None
                else [owner or "", view.version, view.epoch, view.digest])
            keys = [self.books_lease_key] + [
                self.key(n) for n in ("books", "epoch", "cost_basis", "core_floor", "counters")]
            raw = await self.call(what, self._scripts[script](
                keys=keys + [self.key(n) for n in names], args=fence_args + list(args)))
            if view is not None:
                self.view = BooksView(view.epoch, int(raw[0]), as_text(raw[1]) or "")
            return list(raw[2:])

    async def get_order(self, client_order_id: str) -> Order | None:
        hk = self.key("orders")
        raw = await self.call("HGET order", self.client.hget(hk, client_order_id),
                               keys={hk: "hash"})
        if raw is None:
            return None
        where = f"{hk}[{client_order_id}]"
        return order_from_dict(decode_json(raw, where), key=where)

    async def book_fills(self, order: Order, fills: Sequence[Fill], *,
                         cost_basis: Mapping[str, Any], counters: TradeCounters,
                         core_floor: Decimal | None = None,
                         core_credit: Decimal = Decimal(0),
                         balances: Mapping[str, Any] | None = None,
                         now_ms: int | None = None,
                         lease_owner: str | None = None) -> BookResult:
        """Book ``fills`` of ``order`` (whose state already includes them) together with the
        new cost basis, counters, core floor and credit (floor None: keep both) and balances
        (None: keep), in ONE
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
            core_record(core_floor, core_credit, now_ms or order.updated_ms, "fill"),
            "core_floor")
        args: list[str | int] = [
            *self._order_args(order), encode_json(cost_basis, "cost_basis"), floor,
            encode_json(counters.to_dict(), "counters"),
            "" if balances is None else encode_json(balances, "balances"), len(fills)]
        names = ["orders", "orders:open", "orders:closed", "balances",
                 ORDERS + month_of(order.updated_ms), MONTHS]
        for f in fills:
            months = dedup_months(f.time_ms)
            at = [_index_of(names, FILLS + m) for m in months]
            args += [f.trade_id, encode_json(fill_to_dict(f), "fill"), months[0], at[0],
                     ",".join(map(str, at))]
        raw = await self._fenced("BOOK_FILLS", "book_fills", lease_owner, names, args)
        if int(raw[0]) == 0:
            return BookResult((), tuple(as_text(x) or "" for x in raw[1:]), False)
        return BookResult(tuple(ids), (), int(raw[1]) == 1)

    async def booked_among(self, fills: Sequence[Fill]) -> set[str]:
        """The trade ids of ``fills`` that are booked (the archive, one round trip)."""
        return await Archive(self).booked_among(fills)

    async def stored_orders(self, coids: Sequence[str]) -> set[str]:
        """Which of ``coids`` the recent orders (``P orders``) hold, in one round trip."""
        if not coids:
            return set()
        hk = self.key("orders")
        pipe = self.client.pipeline(transaction=False)
        for coid in coids:
            pipe.hexists(hk, coid)
        found = await self.call("HEXISTS orders", pipe.execute(), keys={hk: "hash"})
        return {c for c, hit in zip(coids, found, strict=True) if hit}

    async def latest_fills(self, n: int) -> list[Fill]:
        """The newest ``n`` booked fills, by time (reads the newest months only)."""
        return await Archive(self).latest_fills(n)

    async def archived_orders(self) -> dict[str, Order]:
        """Every order that aged out of the recent ones."""
        return await Archive(self).orders()

    async def get_fills(self, start_ms: int | None = None,
                        end_ms: int | None = None) -> list[Fill]:
        """Booked fills (start_ms <= time < end_ms when given), by time: the archive."""
        return await Archive(self).fills(start_ms, end_ms)

    # ---------------------------------------------------------------- plans, health
    async def record_plan(self, plan: Mapping[str, Any]) -> None:
        """Last plan plus the capped history, in one MULTI/EXEC."""
        body = encode_json(plan, "plan")
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key("last_plan"), body)
        pipe.lpush(self.key("plan_history"), body)
        pipe.ltrim(self.key("plan_history"), 0, self.plan_history_max - 1)
        await self.call("record_plan", pipe.execute(), keys={
            self.key("last_plan"): "string", self.key("plan_history"): "list"})

    async def plan_history(self, limit: int = 100) -> list[dict[str, Any]]:
        k = self.key("plan_history")
        raw = await self.call("LRANGE", self.client.lrange(k, 0, max(limit, 1) - 1),
                               keys={k: "list"})
        return [json_object(decode_json(b, f"{k}[{i}]"), f"{k}[{i}]") for i, b in enumerate(raw)]

    async def heartbeat(self, ttl_s: int, info: Mapping[str, Any]) -> None:
        body = encode_json(info, "heartbeat")
        await self.call("heartbeat", self.client.set(self.key("heartbeat"), body, ex=ttl_s))

    # -------------------------------------------------------------- halt, core floor
    async def set_halt(self, reason: str, now_ms: int) -> None:
        if not reason.strip():
            raise ValueError("set_halt: a reason is required")
        body = encode_json({"reason": reason, "time_ms": now_ms}, "halted")
        await self.call("set_halt", self.client.set(self.key("halted"), body))

    async def clear_halt(self) -> bool:
        return bool(await self.call("clear_halt", self.client.delete(self.key("halted"))))

    async def present(self, *names: str) -> int:
        """How many of the keys ``names`` (under the prefix) exist."""
        return int(await self.call("exists", self.client.exists(*map(self.key, names))))

    async def get_heartbeat(self) -> dict[str, Any] | None:
        k = self.key("heartbeat")
        return parse_heartbeat(await self.call("GET heartbeat", self.client.get(k),
                                                keys={k: "string"}), k)

    async def get_halt(self) -> Halt | None:
        k = self.key("halted")
        raw = await self.call("GET halted", self.client.get(k), keys={k: "string"})
        return parse_halt(raw, k)

    async def set_core_floor(self, qty: Decimal, now_ms: int, source: str = "manual", *,
                             lease_owner: str | None = None) -> None:
        """A fenced write of the floor with a credit of 0 (``core set X``: floor X, credit 0;
        the daemon's ``init`` likewise); an operator's (``source`` manual) checks no view but
        still moves the books version on, so the daemon's next write notices and reloads."""
        if not qty.is_finite() or qty < 0:
            raise ValueError(f"core floor must be a finite quantity >= 0, got {qty}")
        body = encode_json(core_record(qty, Decimal(0), now_ms, source), "core_floor")
        await self._fenced("SET_BOOKS_VALUE", "set_core_floor", lease_owner, [],
                           ["core_floor", body], operator=source == "manual")

    async def set_cost_basis(self, cost_basis: Mapping[str, Any], *,
                             lease_owner: str | None = None) -> None:
        """The initial cost basis (first start); later changes go through book_fills."""
        body = encode_json(cost_basis, "cost_basis")
        await self._fenced("SET_BOOKS_VALUE", "set_cost_basis", lease_owner, [],
                           ["cost_basis", body])

    async def get_core(self) -> Core:
        k = self.key("core_floor")
        raw = await self.call("GET core_floor", self.client.get(k), keys={k: "string"})
        return parse_core(raw, k)

    async def get_core_floor(self) -> Decimal | None:
        return (await self.get_core()).floor


async def _pause(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _index_of(names: list[str], name: str) -> int:
    """The KEYS index (1-based, after the 6 fence keys) of ``name``, added when new."""
    if name not in names:
        names.append(name)
    return 7 + names.index(name)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
