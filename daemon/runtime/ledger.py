"""The books: known orders, cost basis and PnL, core floor, trade counters, balances.

Every change is written to Redis first (orders by version, fills with the new cost basis,
core floor and counters in ONE atomic script) and only then adopted in memory, so memory never
runs ahead of what a restart would load. Every write is fenced (RedisStore): by the lease and
by the view of the books this process read; a write from a stale view is refused, the books
are reloaded and the write computed again from them; books Redis lost or rolled back are never
written on (BooksLost). While Redis is down a write waits (logged once by the
store) instead of being dropped: nothing that cannot be recorded goes ahead.

Order events are applied here (``apply_event``): a status change the order's transition table
refuses (a late report, a fill after the end) is logged once with the client order id and counted
by kind in ``ignored_transitions``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loguru import logger

from daemon.adapters.redis_records import (
    StoredState,
    TradeCounters,
    books_gone,
    books_lost_message,
)
from daemon.adapters.redis_store import RedisStore
from daemon.config import Settings
from daemon.domain.books import Booked, book_fills
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Balance, ExchangeRules, Fill
from daemon.domain.money import shown
from daemon.domain.orders import (
    IgnoredKind,
    IgnoredTransition,
    Order,
    OrderEvent,
)
from daemon.errors import (
    BooksChanged,
    BooksLost,
    OrderConflict,
    StateError,
    StoreUnavailable,
)
from daemon.runtime.order_index import LoadWindow, OrderIndex, load_window
from daemon.runtime.settings_ref import SettingsRef
from daemon.runtime.tally import BookTally

NowMs = Callable[[], int]
MAX_RELOADS = 5  # a write that keeps meeting changed books gives up (BooksChanged)


class Ledger:
    def __init__(self, store: RedisStore, settings: SettingsRef, rules: ExchangeRules,
                 state: StoredState, now_ms: NowMs, *, lease_owner: str | None = None) -> None:
        self.store = store
        self._settings = settings
        self.rules = rules
        self.now_ms = now_ms
        self.lease_owner = lease_owner
        self.orders = self._index(state.orders)
        self.cost = _cost_basis(state, store.key("cost_basis"))
        self.core_floor: Decimal | None = state.core_floor
        self.core_credit: Decimal = state.core_credit  # base sold, not bought back (v2)
        self.counters: TradeCounters = state.counters
        self.balances: dict[str, Balance] = {}
        # status changes the order table refused, by kind (late or contradictory updates)
        self.ignored_transitions: Counter[IgnoredKind] = Counter()
        self.tally = BookTally()  # fills, fees and ended orders booked here (the metrics)
        self._lock = asyncio.Lock()  # one booking at a time: each starts from the last one

    @property
    def settings(self) -> Settings:
        return self._settings.current

    # -- reads ------------------------------------------------------------------------------
    def free_quote(self) -> Decimal:
        bal = self.balances.get(self.rules.quote_asset)
        return bal.free if bal else Decimal(0)

    def open_orders(self) -> list[Order]:
        return self.orders.open_orders()

    async def next_attempt(self, cycle_id: str) -> int:
        return self.orders.next_attempt(cycle_id)

    @property
    def booked(self) -> set[str]:
        """The trade ids of the orders held in memory (all booked); Redis holds every one."""
        return self.orders.booked_ids()

    def _index(self, orders: Mapping[str, Order]) -> OrderIndex:
        return OrderIndex(orders, now_ms=self.now_ms(),
                          lost_watch_s=self.settings.execution.lost_order_watch_s)

    def _window(self) -> LoadWindow:
        return load_window(self.now_ms(), self.settings.execution.lost_order_watch_s)

    def balances_dict(self) -> dict[str, Any]:
        return {a: {"free": str(b.free), "locked": str(b.locked)} for a, b in
                sorted(self.balances.items())}

    # -- writes -----------------------------------------------------------------------------
    async def write_intent(self, order: Order, plan: Mapping[str, Any] | None = None) -> None:
        """Write-ahead (with the plan record that decided it, when given, in the same script);
        raises StoreUnavailable, LeaseLost, TradingHalted, IntentExists, BooksLost or
        BooksChanged (the books were reloaded: decide again). Nothing may be sent unless this
        returns."""
        async with self._lock:  # never between another write's computing and writing
            try:
                await self.store.write_intent(order, lease_owner=self.lease_owner, plan=plan)
            except BooksChanged:
                await self._reload_books()
                raise
            self._hold(order)

    async def record(self, order: Order) -> Order:
        """Persist ``order``'s new state; book its fills not booked yet, atomically with the
        cost basis, core floor and counters. Waits through a Redis outage; reloads and tries
        again when the books changed behind it. Raises LeaseLost and BooksLost (never writes
        on books it cannot trust)."""
        async with self._lock:
            changed = 0
            while True:
                try:
                    await self._record_once(order)
                    return order
                except StoreUnavailable:
                    await self.store.wait_available(self.settings.redis.retry_interval_s)
                except BooksChanged as exc:
                    changed += 1
                    if changed > MAX_RELOADS:
                        raise
                    logger.warning("the books changed behind this writer ({}); reloading "
                                   "them from Redis", exc)
                    await self._reload_books()

    async def _record_once(self, order: Order, skip: frozenset[str] = frozenset()) -> None:
        """``skip``: trade ids Redis said are booked already (of an order memory no longer
        held, e.g. adopted again by a reconcile): they are in the books, never again."""
        known = self.orders.get(order.client_order_id)
        done = (known.trade_ids if known is not None else frozenset()) | skip
        new = [f for f in order.fills if f.trade_id not in done]
        if not new:
            await self.store.save_order(order, lease_owner=self.lease_owner)
            self._adopt_order(order)
            return
        cost, floor, counters, credit = self._after(order, new, first=not (order.trade_ids & done))
        result = await self.store.book_fills(
            order, new, cost_basis=cost.to_dict(), counters=counters, core_floor=floor,
            core_credit=credit, balances=self.balances_dict() or None, now_ms=self.now_ms(),
            lease_owner=self.lease_owner)
        if result.already:
            # Booked before (e.g. by a call whose reply was lost): the books in Redis already
            # include them, so start again from what Redis holds, never from memory.
            logger.warning("fills {} were already booked; reloading the books from Redis",
                           list(result.already))
            await self._reload_books()
            await self._record_once(order, skip | frozenset(result.already))
            return
        self.cost, self.core_floor, self.counters = cost, floor, counters
        self.core_credit = credit
        self.tally.booked(new)
        self._adopt_order(order)
        px = self.rules.quote_precision
        for fill in new:
            logger.bind(client_order_id=order.client_order_id, trade_id=fill.trade_id).info(
                "fill booked: {} {} @ {} fee {} {} (traded {} UTC); avg cost {} realized {}",
                fill.side.value, fill.qty, fill.price, fill.fee, fill.fee_asset,
                utc_time(fill.time_ms), shown(cost.avg_cost, px), shown(cost.realized_pnl, px))

    async def _reload_books(self) -> None:
        """Reload after a write conflict: only books that continue the ones this process
        wrote (same epoch, version not lower) are adopted; anything else is BooksLost and
        the old view stays, so every further write keeps being refused by the fence."""
        before = self.store.view
        state = await self.store.load_state(adopt=False, **self._window()._asdict())
        if before is not None:
            gone = books_gone(self.store.prefix, before, "1", state.view.epoch,
                              state.view.version)
            if gone is not None:
                raise BooksLost(gone)
        self._take_books(state)

    async def reload_all(self) -> None:
        """Everything from Redis (taking the lease, recovering): orders and books, whatever
        this process held before. A new epoch (the books were rebuilt) is adopted, said."""
        async with self._lock:
            before = self.store.view
            if (await self.store.books_marker())[0] is None:
                raise BooksLost(books_lost_message(self.store.prefix))
            state = await self.store.load_state(adopt=False, **self._window()._asdict())
            if before is not None and before.epoch != state.view.epoch:
                if state.view.version < 1:  # created empty, not installed by an operator
                    raise BooksLost(
                        f"{self.store.prefix}epoch is {state.view.epoch}, new and empty (the "
                        f"books were {before.epoch}): not adopted; "
                        f"{books_lost_message(self.store.prefix).partition('; ')[2]}")
                logger.warning("the books in Redis are a new life (epoch {} -> {}): adopting "
                               "them and reconciling with the exchange", before.epoch,
                               state.view.epoch)
            self._take_books(state)
            self.orders = self._index(state.orders)
        logger.info("books loaded from Redis: {}, {} recent order(s), {} fill(s) booked in all, "
                    "avg cost {}", state.view.describe(), len(self.orders), self.cost.fills,
                    self.cost.avg_cost)

    def _take_books(self, state: StoredState) -> None:
        """Adopt what ``state`` holds, and its view for the fence, once all of it parsed (a
        view of content that cannot be read would let the next write overwrite it)."""
        self.cost = _cost_basis(state, self.store.key("cost_basis"))
        self.core_floor, self.core_credit = state.core_floor, state.core_credit
        self.counters = state.counters
        self.store.view = state.view

    async def refresh_core_floor(self) -> None:
        """The operator may have set the core floor (``rebalancer core set``: credit 0) since."""
        async with self._lock:
            self.core_floor, self.core_credit = await self.store.get_core()

    async def catch_up(self, version: int) -> bool:
        """Redis holds books version ``version`` (the heartbeat read it): when that is ahead
        of the view this process wrote (an operator's ``core set``, a write whose reply was
        lost), reload the books now, so that decisions, which read them from memory, see the
        change without a Redis read of their own (the write-ahead's fence would refuse a
        decision made on the old books anyway). True when reloaded; raises BooksLost."""
        async with self._lock:  # after any write of ours in flight: its view is adopted
            view = self.store.view
            if view is None or version <= view.version:
                return False
            await self._reload_books()
            return True

    def unsettled(self, exclude: str | None = None) -> list[Order]:
        """Orders that must be followed before a new decision: still open at the venue, or
        with executed quantity whose fills are not booked yet."""
        return self.orders.unsettled(exclude)

    def _after(self, order: Order, new: list[Fill], *, first: bool) -> Booked:
        """The books after booking ``new``: the one booking rule (daemon.domain.books). The
        counters use the daemon's own clock, the one the cooldown and daily limit are checked
        with (a venue's trade time can differ, and a simulator's runs accelerated)."""
        return book_fills(
            self.cost, self.core_floor, self.counters, new, core_credit=self.core_credit,
            first_fill_of_order=first,
            now_ms=self.now_ms(), core_pct=self.settings.strategy.core_pct,
            base_asset=self.rules.base_asset, quote_asset=self.rules.quote_asset)

    def _adopt_order(self, order: Order) -> None:
        known = self.orders.get(order.client_order_id)
        if known is None or order.version >= known.version:
            self.tally.adopted(known, order)
            self._hold(order)

    def _hold(self, order: Order) -> None:
        self.orders.put(order, now_ms=self.now_ms(),
                        lost_watch_s=self.settings.execution.lost_order_watch_s)

    def apply_event(self, order: Order, event: OrderEvent) -> Order:
        """``order.apply(event)``; a status change the table refused is logged and counted.
        Raises OrderConflict on contradictory facts (nothing is counted then)."""
        step = order.step(event)
        if step.ignored is not None:
            self.note_ignored(order.client_order_id, event, step.ignored)
        return step.order

    def note_ignored(self, client_id: str, event: OrderEvent,
                     ignored: IgnoredTransition) -> None:
        """Log (once) and count a status change the order table refused. A stale one (an
        older status after a newer) is what out-of-order streams bring: INFO; the others mean
        the venue contradicts itself: WARNING."""
        self.ignored_transitions[ignored.kind] += 1
        level = "INFO" if ignored.kind is IgnoredKind.STALE else "WARNING"
        logger.bind(client_order_id=client_id).log(
            level, "order update ignored ({}): {} would move the order {} -> {}",
            ignored.kind.value, type(event).__name__, ignored.current.value,
            ignored.proposed.value)

    async def apply_to_known(self, client_id: str, event: OrderEvent) -> None:
        """A stream update for an order of ours that is not in flight (recent, LOST). Raises
        LeaseLost and StateError (the books cannot be written): the caller stops trading."""
        order = self.orders.get(client_id)
        if order is None:
            return
        try:
            new = self.apply_event(order, event)
        except OrderConflict as exc:  # reported, never allowed to stop the stream
            logger.bind(client_order_id=client_id).error("update not applied: {}", exc)
            return
        if new is not order:
            await self.record(new)  # LeaseLost / StateError: the caller's to handle

    async def set_core_floor(self, qty: Decimal, source: str) -> None:
        """The daemon's own write (``init``); BooksChanged: reloaded, decide again."""
        async with self._lock:
            try:
                await self.store.set_core_floor(qty, self.now_ms(), source=source,
                                                lease_owner=self.lease_owner)
            except BooksChanged:
                await self._reload_books()
                raise
            self.core_floor, self.core_credit = qty, Decimal(0)

    async def set_cost_basis(self, cost: CostBasis) -> None:
        """First start only: the initial cost basis (from config or trade history)."""
        async with self._lock:
            await self.store.set_cost_basis(cost.to_dict(), lease_owner=self.lease_owner)
            self.cost = cost

    def update_balances(self, balances: Mapping[str, Balance]) -> None:
        self.balances = dict(balances)

    async def on_balances(self, balances: Mapping[str, Balance]) -> None:
        """The user feed's callback: every balance change (REST snapshot or push)."""
        self.update_balances(balances)

    def summary(self, price: Decimal | None) -> dict[str, Any]:
        unrealized = self.cost.unrealized(price) if price is not None else None
        return {
            "avg_cost": None if self.cost.avg_cost is None else str(self.cost.avg_cost),
            "qty_covered": str(self.cost.qty),
            "realized_pnl": str(self.cost.realized_pnl),
            "unrealized_pnl": None if unrealized is None else str(unrealized),
            "core_floor": None if self.core_floor is None else str(self.core_floor),
            "core_credit": str(self.core_credit),
            "counters": self.counters.to_dict(),
            "balances": self.balances_dict(),
        }



def utc_time(ms: int) -> str:
    """Wall-clock time of an epoch-ms instant for a log line: 2026-12-03 15:04:05.123."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _cost_basis(state: StoredState, key: str) -> CostBasis:
    """The stored cost basis; StateError naming the full key when it cannot be read."""
    if state.cost_basis is None:
        return CostBasis()
    try:
        return CostBasis.from_dict(state.cost_basis)
    except StateError as exc:
        raise StateError(f"{key}: {exc}") from None
