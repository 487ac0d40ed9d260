"""From a BUY/SELL plan to a finished, fully booked order.

    plan -> priced from the book top (the websocket book-ticker stream's, fresh; REST when stale)
         -> intent (deterministic client id) -> written to Redis (write-ahead, ONE script call
            with the plan record: the only Redis round trip before the request) -> POST /order
         -> tracked (private streams wake us, REST polling with capped backoff)
         -> on timeout or shutdown/halt: cancel, verify (it may fill meanwhile)
         -> every fill booked exactly once (the ledger's atomic write)

Never sends twice: a submit whose outcome is unknown (timeout, 5xx, reset, unparsable reply) is
resolved by querying the client order id (retrying -2013, which MEXC answers for a few seconds
after a create, for at least ``execution.not_found_grace_s``), never by sending again. An order
the venue does not know after those tries is LOST: placed nowhere as far as anyone can tell; the
engine keeps watching it for late fills.

One source of fills. MEXC names one fill ``id`` (32 hex) in myTrades and ``tradeId``
(``...X1``) in the deals push, and nothing says the two ever agree (PROTOCOL.md 9), so fills are
booked from myTrades only, by its id: a deals push only wakes the follower to fetch them, and an
order whose executed quantity (orders push or query) exceeds what is booked is settled from
myTrades before any new decision. Booking never depends on matching ids across sources, and the
booked quantity is the sum of the exchange's own trade list for the order.

One order is followed at a time (``_slot``). Every update names the client order id it is for:
an update for an order that is no longer the one in flight goes to the ledger instead, so a late
reply can neither crash the follower nor land on the wrong order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Settings
from daemon.domain.backoff import backoff_s
from daemon.domain.client_ids import make_client_order_id
from daemon.domain.models import ExchangeRules, Fill, OrderReport
from daemon.domain.money import shown
from daemon.domain.orders import (
    Order,
    OrderAccepted,
    OrderCancelRequested,
    OrderEvent,
    OrderFilled,
    OrderStatusReported,
    OrderSubmitFailed,
    OrderSubmitted,
    new_intent,
)
from daemon.domain.planner import Plan
from daemon.domain.pricing import (
    PricedOrder,
    PriceReference,
    PriceRefusal,
    check_fill_price,
)
from daemon.errors import (
    BooksChanged,
    ExchangeError,
    FatalExchangeError,
    IntentExists,
    LeaseLost,
    OrderConflict,
    OutcomeUnknown,
    StateError,
    StoreUnavailable,
    TradingHalted,
    TransientExchangeError,
    UnknownOrder,
)
from daemon.runtime.crashpoints import crash_point
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.order_pricing import BookQuote, OrderPricing, PlanRecord
from daemon.runtime.resolution import Found, Patience, query, settle_unknown
from daemon.runtime.settings_ref import SettingsRef

NowMs = Callable[[], int]
SENT_AGAINST_KEPT = 32  # orders whose sending prices are remembered (fills are checked with)


class Executor:
    def __init__(self, settings: SettingsRef, rest: MexcRest, ledger: Ledger, now_ms: NowMs,
                 lease: TradingLease) -> None:
        self._settings = settings
        self._lease = lease
        self.rest = rest
        self.ledger = ledger
        self.now_ms = now_ms
        self._pricing = OrderPricing(settings, rest, ledger.store, ledger.free_quote, now_ms)
        self.in_flight: Order | None = None
        self.sent = 0
        self._changed = asyncio.Event()
        self._fills_pending = False  # a deals push said the order in flight has new fills
        self._lock = asyncio.Lock()  # every change of ``in_flight``
        self._slot = asyncio.Lock()  # one order followed at a time
        # the independent prices each recent order was checked against when it was sent
        self._sent_against: dict[str, PriceReference] = {}
        # told of every order followed to its end, and of an order conflict (notifications);
        # plain calls that never wait
        self.on_finished: Callable[[Order], None] = lambda order: None
        self.on_conflict: Callable[[str], None] = lambda reason: None

    @property
    def settings(self) -> Settings:
        return self._settings.current

    @property
    def stopping(self) -> bool:
        """Shutting down: nothing new is sent; the order in flight is cancelled."""
        return self._lease.phase is Phase.STOPPING

    def _guard(self) -> None:
        """Before every exchange action: a lease that may have been lost (not renewed for a
        TTL, e.g. after the process was paused) means hands off the exchange, at once."""
        if not self._lease.valid_now():
            raise LeaseLost(f"{self._lease.owner}: the trading lease was not confirmed "
                            "within its TTL")

    async def _update(self, coid: str, event: OrderEvent | None) -> None:
        """A stream update (event), or a fills wake-up (None), for one of our orders. Only
        the lease holder records it; a lease or books problem found on the way stops
        trading, it never stops the stream that brought the update."""
        if not self._lease.valid_now():
            return
        try:
            if event is not None:
                await self._apply(coid, event)
            elif self._current(coid) is not None:
                self._fills_pending = True
                self._changed.set()
            elif coid in self.ledger.orders:
                # e.g. a fill matched while the cancel was in flight, after the follower let
                # go: the query's executed quantity marks the order owed, and it is settled
                # from myTrades before the next decision
                await self._ask(coid)
        except LeaseLost as exc:
            self._lease.lost(str(exc))
        except OrderConflict as exc:  # the follower's own query settles it
            logger.bind(client_order_id=coid).error("update not applied: {}", exc)
        except StateError as exc:
            self._lease.suspend(str(exc))

    # -- updates ------------------------------------------------------------------------------
    async def on_report(self, report: OrderReport) -> None:
        """A private orders push for one of our orders (ignored without the lease: the
        holder records it, a standby's view of the books is not to be written)."""
        if report.client_order_id:
            await self._update(report.client_order_id, OrderStatusReported(report))

    async def on_fill(self, fill: Fill) -> None:
        """A private deals push. It books nothing: its ``tradeId`` need not be the id myTrades
        gives the same fill (PROTOCOL.md 9), so booking from both paths could book one fill
        twice. Fills are booked from ONE source, myTrades (``_book_trades``); a push only
        wakes the follower of the order in flight to fetch them now. For any other order the
        orders push (or a query) raises its executed quantity, and an order with executed
        quantity not booked is settled from myTrades before the next decision; a push for a
        known order not in flight makes the daemon ask about that order at once."""
        if fill.client_order_id:
            await self.recheck(fill.client_order_id)

    async def recheck(self, coid: str) -> None:
        """Something about one of our orders could not be read (a push skipped as bad): the
        follower of the order in flight fetches its trades now; another known order is asked
        about once."""
        await self._update(coid, None)

    async def _apply(self, coid: str, event: OrderEvent) -> None:
        async with self._lock:
            order = self.in_flight
            if order is not None and order.client_order_id == coid:
                new = self.ledger.apply_event(order, event)
                if new is not order:
                    self.in_flight = await self.ledger.record(new)
                self._changed.set()
                return
        await self.ledger.apply_to_known(coid, event)

    def _current(self, coid: str) -> Order | None:
        order = self.in_flight
        return order if order is not None and order.client_order_id == coid else None

    # -- entry points -------------------------------------------------------------------------
    async def execute(self, plan: Plan, cycle_id: str, rules: ExchangeRules,
                      reference: PriceReference, quote: BookQuote | None = None,
                      record: PlanRecord | None = None) -> Order | None:
        """Place and follow one order for ``plan``; None when nothing was sent. ``reference``
        holds the independent prices (kline stream, MAs) the book is checked against;
        ``quote`` the book top the decision read (None: REST bookTicker is asked now);
        ``record`` the plan record not written yet: written with the intent in one script, or
        on its own when no intent is written. Raises TradingHalted or BooksChanged (logged,
        nothing sent) when the write-ahead refused for that: the caller decides again."""
        assert plan.side is not None
        if self.stopping:
            await self._pricing.record_plan(record, cycle_id)
            return None
        if self._slot.locked():  # it waits for another order: the book read now will be old
            quote = None
        async with self._slot:
            ex = self.settings.execution
            coid = make_client_order_id(ex.client_order_prefix, cycle_id,
                                        await self.ledger.next_attempt(cycle_id))
            log = logger.bind(cycle_id=cycle_id, client_order_id=coid)
            priced = await self._pricing.price(plan, cycle_id, rules, reference, quote,
                                                record)
            if priced is None:
                return None
            if priced.fell_back:
                log.warning("MARKET orders are disabled for {}; using a marketable limit",
                            rules.symbol)
            self._remember_reference(coid, reference)
            intent = new_intent(coid, rules.symbol, plan.side, priced.order_type, priced.qty,
                                priced.price, self.now_ms(), tag=plan.reason_code)
            written = await self._write_ahead(intent, record, cycle_id)
            if written is None:
                return None
            if written is not intent:  # stored before: resolved, never sent again
                return await self._run(written, resolve=True)
            return await self._run(intent, submit=priced)

    async def _write_ahead(self, intent: Order, record: PlanRecord | None,
                           cycle_id: str) -> Order | None:
        """``intent`` once written (with ``record``); the order stored under its id before
        (a reply lost after the write: it is resolved, never sent again); None when nothing
        may be sent (logged; the plan recorded on its own). Raises TradingHalted and
        BooksChanged (the books reloaded) for the caller to decide again."""
        coid = intent.client_order_id
        log = logger.bind(cycle_id=cycle_id, client_order_id=coid)
        try:
            await self.ledger.write_intent(intent, record)
            return intent
        except StoreUnavailable as exc:
            log.error("order NOT sent: the intent was not written ({})", exc)
            return None
        except (TradingHalted, LeaseLost, BooksChanged) as exc:
            log.error("order NOT sent: the intent was not written ({})", exc)
            await self._pricing.record_plan(record, cycle_id)  # the refusal wrote nothing
            if not isinstance(exc, LeaseLost):
                raise
            self._lease.lost(str(exc))  # hands off the exchange at once
            return None
        except IntentExists:
            log.warning("intent already stored: resolving it with the exchange")
            await self._pricing.record_plan(record, cycle_id)
            return await self.ledger.store.get_order(coid)
        except StateError as exc:  # BooksLost, or content that cannot be read
            log.error("order NOT sent: the intent was not written ({})", exc)
            self._lease.suspend(str(exc))
            return None

    async def follow_existing(self, order: Order) -> Order:
        """Follow an order already known (found open at startup, revived, or with fills not
        booked yet) to its end: cancel at the timeout, book every fill."""
        async with self._slot:
            return await self._run(order, resolve=order.order_id is None)

    async def _run(self, order: Order, *, submit: PricedOrder | None = None,
                   resolve: bool = False) -> Order:
        coid = order.client_order_id
        log = logger.bind(client_order_id=coid)
        async with self._lock:
            self.in_flight = order
            self._fills_pending = False  # a wake-up meant for an earlier order
        try:
            if submit is not None:
                crash_point("after_intent")
                await self._submit(coid, submit)
            elif resolve:
                await self.resolve_unknown(coid)
            await self._follow(coid)
        except OrderConflict as exc:
            log.error("contradictory facts about this order; it stays open for the operator "
                      "and blocks new decisions: {}", exc)
            self.on_conflict(f"order {coid}: contradictory facts; it blocks new decisions "
                             f"until the operator settles it: {exc}")
        except LeaseLost as exc:
            log.error("the trading lease is lost ({}): this instance stops following the "
                      "order; the lease holder reconciles it", exc)
            self._lease.lost(str(exc))
        except StateError as exc:  # BooksLost, BooksChanged (again and again), bad content
            log.error("the books cannot be trusted ({}): not following the order further "
                      "until they are reloaded and reconciled", exc)
            self._lease.suspend(str(exc))
        except ExchangeError as exc:
            log.error("following the order failed ({}); it stays open and is followed again "
                      "before the next decision", exc)
        finally:
            async with self._lock:
                final = self.in_flight or self.ledger.orders.get(coid, order)
                self.in_flight = None
        log.info("order done: {} filled {} of {} avg {}", final.status.value, final.filled_qty,
                 final.qty, shown(final.avg_px, self.ledger.rules.quote_precision))
        self.on_finished(final)
        return final

    # -- submit and resolve -------------------------------------------------------------------
    async def _submit(self, coid: str, priced: PricedOrder) -> None:
        """SENT is taken in memory only: it reaches Redis with the next change recorded (the
        reply's), never as a round trip of its own before the request. A crash before that
        leaves the INTENT, which recovery resolves by client order id exactly as a SENT."""
        async with self._lock:
            order = self._current(coid)
            assert order is not None
            order = self.in_flight = self.ledger.apply_event(order,
                                                             OrderSubmitted(self.now_ms()))
        self._guard()
        self.sent += 1
        log = logger.bind(client_order_id=coid)
        try:
            report = await self.rest.place_order(order.symbol, order.side, order.order_type,
                                                 client_order_id=coid, **_size_args(priced))
        except OutcomeUnknown as exc:  # lost or unreadable answer: it may well be placed
            log.warning("submit outcome unknown ({}); resolving by client order id", exc)
            await self.resolve_unknown(coid)
            return
        except TransientExchangeError as exc:  # refused before any effect; asked all the same
            log.warning("submit failed ({}); resolving by client order id", exc)
            await self.resolve_unknown(coid)
            return
        except FatalExchangeError as exc:  # rejected, auth, symbol: definitely not placed
            log.warning("order rejected by the exchange: {}", exc)
            await self._apply(coid, OrderSubmitFailed(str(exc), self.now_ms()))
            return
        await self._apply(coid, OrderAccepted(report.order_id, self.now_ms()))
        await self._apply(coid, OrderStatusReported(report))

    async def resolve_unknown(self, coid: str) -> None:
        """Find out by client id whether the venue has the order (daemon.runtime.resolution:
        LOST after the configured number of "does not exist" answers, and not before
        ``not_found_grace_s`` counted from NOW: the create may have reached the exchange at any
        moment of a request that just timed out)."""
        async def apply(event: OrderEvent) -> None:
            await self._apply(coid, event)

        self._guard()
        await settle_unknown(self.rest, self.settings.symbol, coid,
                             Patience.after_submit(self.settings.execution), apply, self.now_ms)

    async def _ask(self, coid: str) -> None:
        """One query; a report is applied, anything else changes nothing."""
        self._guard()
        order = self._current(coid) or self.ledger.orders.get(coid)
        match await query(self.rest, self.settings.symbol, coid,
                          order.order_id if order is not None else None):
            case Found(report):
                await self._apply(coid, OrderStatusReported(report))

    # -- follow, cancel, settle ---------------------------------------------------------------
    async def _follow(self, coid: str) -> None:
        """Until terminal: wait for stream updates, poll with capped backoff, cancel at the
        timeout (or at once when stopping/halted), repeating the cancel while it stays open."""
        ex = self.settings.execution
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ex.order_timeout_s
        polls = 0
        while (order := self._current(coid)) is not None and order.is_open:
            remaining = deadline - loop.time()
            if remaining <= 0 or (self.stopping and order.cancel_requested_ms is None):
                await self._cancel(coid)
                remaining = min(ex.order_timeout_s, 5.0)
                deadline = loop.time() + remaining
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(
                    backoff_s(polls, first_s=0.2, max_s=ex.poll_max_interval_s), remaining))
            except TimeoutError:
                await self.poll(coid)
            if self._fills_pending:
                self._fills_pending = False
                await self._book_trades(coid)
            polls += 1
        await self.settle_fills(coid)

    async def poll(self, coid: str) -> None:
        order = self._current(coid)
        if order is None:
            return
        if order.order_id is None and order.status.name in ("INTENT", "SENT"):
            await self.resolve_unknown(coid)
            return
        await self._ask(coid)

    async def _cancel(self, coid: str) -> None:
        order = self._current(coid)
        if order is None:
            return
        self._guard()
        log = logger.bind(client_order_id=coid)
        log.info("cancelling the remainder {} ({})", order.leaves_qty,
                 "stopping" if self.stopping else "timeout")
        await self._apply(coid, OrderCancelRequested(self.now_ms()))
        try:
            report = await self.rest.cancel_order(order.symbol, client_order_id=coid)
        except UnknownOrder:
            log.info("cancel: the exchange has no open order of that id; verifying")
            await self._ask(coid)
        except ExchangeError as exc:  # whatever went wrong, a query tells
            log.warning("cancel outcome unknown ({}); verifying", exc)
            await self._ask(coid)
        else:
            if report is None:  # a minimal reply: it says nothing of the order's state
                log.info("cancel acknowledged without the order's state; asking")
                await self._ask(coid)
            else:
                await self._apply(coid, OrderStatusReported(report))

    async def cancel_in_flight(self) -> None:
        """Shutdown/halt policy 'cancel': cancel the order in flight now (by client id, so
        also one whose submit is still unresolved); the follow loop verifies."""
        order = self.in_flight
        if order is not None and order.is_open and order.cancel_requested_ms is None:
            await self._cancel(order.client_order_id)
            self._changed.set()

    async def settle_fills(self, coid: str) -> None:
        """Book every trade of the order the venue reports and we have not booked, retrying
        myTrades a few times before giving the slot back."""
        for attempt in range(5):
            order = self._current(coid)
            if order is None or order.order_id is None or not _owes_fills(order):
                return
            await self._book_trades(coid)
            if (order := self._current(coid)) is None or not _owes_fills(order):
                return
            await asyncio.sleep(backoff_s(attempt, first_s=0.25, max_s=2.0))
        logger.bind(client_order_id=coid).error(
            "fills of this order are still not all booked; it is settled again before the "
            "next decision")

    async def _book_trades(self, coid: str) -> None:
        """One myTrades request for the order; every fill not booked yet is booked (by its
        myTrades id: the one source of fills)."""
        order = self._current(coid)
        if order is None or order.order_id is None:
            return
        self._guard()
        try:
            fills = await self.rest.my_trades(order.symbol, order_id=order.order_id)
        except ExchangeError as exc:
            logger.bind(client_order_id=coid).warning("myTrades failed ({})", exc)
            return
        refusal = self._implausible(order, fills)
        if refusal is not None:
            logger.bind(client_order_id=coid).error(
                "GET /api/v3/myTrades: {}; none of this answer is booked, asked again",
                refusal.reason)
            return
        for fill in sorted(fills, key=lambda f: (f.time_ms, f.trade_id)):
            await self._apply(coid, OrderFilled(fill))

    def _implausible(self, order: Order, fills: list[Fill]) -> PriceRefusal | None:
        """The first row whose price the order could not have had (a price and quoteQty both
        x100 look consistent): the whole answer is then untrusted."""
        band = self.settings.risk.max_price_deviation_pct
        sent_against = self._sent_against.get(order.client_order_id)
        for fill in fills:
            refusal = check_fill_price(fill.price, order.price, sent_against, band,
                                       f"trade {fill.trade_id} field price value")
            if refusal is not None:
                return refusal
        return None

    def _remember_reference(self, coid: str, reference: PriceReference) -> None:
        self._sent_against[coid] = reference
        while len(self._sent_against) > SENT_AGAINST_KEPT:
            del self._sent_against[next(iter(self._sent_against))]


def _owes_fills(order: Order) -> bool:
    return order.unbooked_qty > 0 or (order.is_terminal and order.filled_qty == 0
                                      and order.venue_executed_qty > 0)


def _size_args(priced: PricedOrder) -> dict[str, Decimal | None]:
    if priced.quote_order_qty is not None:
        return {"quote_order_qty": priced.quote_order_qty}
    if priced.order_type == "MARKET":
        return {"quantity": priced.qty}
    return {"quantity": priced.qty, "price": priced.price}
