"""From a BUY/SELL plan to a finished, fully booked order.

    plan -> intent (deterministic client id) -> written to Redis (write-ahead) -> POST /order
         -> tracked (private streams wake us, REST polling with capped backoff)
         -> on timeout: cancel, verify (it may fill meanwhile) -> fills booked exactly once

Never sends twice: a submit whose outcome is unknown (timeout, 5xx, reset) is resolved by
querying the client order id (retrying -2013 for a while, as MEXC answers it briefly after a
create), never by sending again. An order the venue does not know after those tries is LOST:
no order was placed as far as anyone can tell; it is still watched for late fills.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import IntentExists, TradingHalted
from daemon.config import Settings
from daemon.domain.client_ids import make_client_order_id
from daemon.domain.models import ExchangeRules, Fill, OrderReport
from daemon.domain.orders import (
    Order,
    OrderAccepted,
    OrderCancelRequested,
    OrderFilled,
    OrderMarkedLost,
    OrderNotFound,
    OrderStatusReported,
    OrderSubmitFailed,
    OrderSubmitted,
    new_intent,
)
from daemon.domain.planner import Plan, min_notional_eff
from daemon.domain.pricing import PricedOrder, price_order
from daemon.errors import (
    ExchangeError,
    LeaseLost,
    OrderRejected,
    OutcomeUnknown,
    StoreUnavailable,
    TransientExchangeError,
    UnknownOrder,
)
from daemon.runtime.crashpoints import crash_point
from daemon.runtime.ledger import Ledger

NowMs = Callable[[], int]


class Executor:
    def __init__(self, settings: Settings, rest: MexcRest, ledger: Ledger, now_ms: NowMs) -> None:
        self.settings = settings
        self.rest = rest
        self.ledger = ledger
        self.now_ms = now_ms
        self.in_flight: Order | None = None
        self._changed = asyncio.Event()
        # Every change of the in-flight order (REST replies, stream pushes) goes through this
        # lock, so an update that awaits its Redis write cannot overwrite a newer one.
        self._lock = asyncio.Lock()
        self.sent = 0

    # -- stream input -------------------------------------------------------------------
    async def on_report(self, report: OrderReport) -> None:
        """A private orders push (or any report) for one of our orders."""
        await self._feed(report.client_order_id, OrderStatusReported(report))

    async def on_fill(self, fill: Fill) -> None:
        await self._feed(fill.client_order_id, OrderFilled(fill))

    async def _feed(self, client_id: str | None,
                    event: OrderStatusReported | OrderFilled) -> None:
        if client_id is None:
            return
        async with self._lock:
            order = self.in_flight
            if order is not None and client_id == order.client_order_id:
                new = order.apply(event)
                if new is not order:
                    self.in_flight = await self.ledger.record(new)
                self._changed.set()
                return
        await self.ledger.apply_to_known(client_id, event)

    async def _apply(self, event: object) -> Order:
        async with self._lock:
            assert self.in_flight is not None
            new = self.in_flight.apply(event)  # type: ignore[arg-type]
            if new is not self.in_flight:
                self.in_flight = await self.ledger.record(new)
            return self.in_flight

    # -- main path ------------------------------------------------------------------------
    async def execute(self, plan: Plan, cycle_id: str, rules: ExchangeRules) -> Order | None:
        """Place and follow one order for ``plan``. Returns the final order, or None when
        nothing was sent (store down, too small after pricing)."""
        assert plan.side is not None
        ex = self.settings.execution
        attempt = await self.ledger.next_attempt(cycle_id)
        client_id = make_client_order_id(ex.client_order_prefix, cycle_id, attempt)
        log = logger.bind(cycle_id=cycle_id, client_order_id=client_id)
        top = await self.rest.book_top(rules.symbol)
        priced = price_order(
            plan.side, plan.quantity, top, rules, order_type=ex.order_type,
            slippage_pct=ex.slippage_pct,
            spendable_quote=self.ledger.free_quote() - self.settings.risk.usdt_reserve,
            min_notional=min_notional_eff(rules, self.settings.risk))
        if priced is None:
            log.warning("order skipped: below the minimum at the current book {}", top)
            return None
        if priced.fell_back:
            log.warning("MARKET orders are disabled for {}; using a marketable limit",
                        rules.symbol)
        intent = new_intent(client_id, rules.symbol, plan.side, priced.order_type, priced.qty,
                            priced.price, self.now_ms(), tag=plan.reason_code)
        try:
            await self.ledger.write_intent(intent)
        except (StoreUnavailable, TradingHalted, LeaseLost) as exc:
            log.error("order NOT sent: the intent was not written ({})", exc)
            return None
        except IntentExists:
            # Written before (e.g. a reply lost after the write): never send it again; find
            # out from the venue what became of it.
            log.warning("intent already stored: resolving it with the exchange, not resending")
            return await self._resume_stored(client_id)
        self.in_flight = intent
        crash_point("after_intent")
        try:
            await self._submit(priced)
            await self._follow()
        finally:
            async with self._lock:
                final = self.in_flight
                self.in_flight = None
        log.info("order done: {} filled {} of {} avg {}", final.status.value, final.filled_qty,
                 final.qty, final.avg_px)
        return final

    async def _resume_stored(self, client_id: str) -> Order | None:
        stored = await self.ledger.store.get_order(client_id)
        if stored is None:
            return None
        self.in_flight = stored
        try:
            await self.resolve_unknown()
            await self._follow()
        finally:
            async with self._lock:
                final, self.in_flight = self.in_flight, None
        return final

    async def follow_existing(self, order: Order) -> Order:
        """Follow an order found open at startup to its end (cancel at the timeout)."""
        self.in_flight = order
        try:
            await self._follow()
        finally:
            async with self._lock:
                final = self.in_flight
                self.in_flight = None
        return final

    async def _submit(self, priced: PricedOrder) -> None:
        order = self.in_flight
        assert order is not None
        await self._apply(OrderSubmitted(self.now_ms()))
        self.sent += 1
        try:
            report = await self.rest.place_order(
                order.symbol, order.side, order.order_type,
                client_order_id=order.client_order_id, **_size_args(priced))
        except OrderRejected as exc:
            logger.bind(client_order_id=order.client_order_id).warning(
                "order rejected by the exchange: {}", exc)
            await self._apply(OrderSubmitFailed(str(exc), self.now_ms()))
            return
        except (OutcomeUnknown, TransientExchangeError) as exc:
            logger.bind(client_order_id=order.client_order_id).warning(
                "submit outcome unknown ({}); resolving by client order id", exc)
            await self.resolve_unknown()
            return
        await self._apply(OrderAccepted(report.order_id, self.now_ms()))
        await self._apply(OrderStatusReported(report))

    async def resolve_unknown(self) -> None:
        """Find out by client id whether the venue has the in-flight order; LOST if not."""
        order = self.in_flight
        assert order is not None
        retries = self.settings.execution.unknown_order_retries
        for attempt in range(retries):
            report = await self._query(order.client_order_id)
            if report is not None:
                await self._apply(OrderStatusReported(report))
                return
            await self._apply(OrderNotFound(self.now_ms()))
            await asyncio.sleep(min(0.25 * 2**attempt, self.settings.execution.poll_max_interval_s))
        await self._apply(OrderMarkedLost(f"not found after {retries} queries", self.now_ms()))
        logger.bind(client_order_id=order.client_order_id).error(
            "order not found after {} queries: marked LOST, watched for late fills", retries)

    async def _query(self, client_id: str) -> OrderReport | None:
        try:
            return await self.rest.get_order(self.settings.symbol, client_order_id=client_id)
        except UnknownOrder:
            return None
        except TransientExchangeError as exc:
            logger.warning("order query failed ({}); will retry", exc)
            return None

    async def _follow(self) -> None:
        """Track until terminal; cancel at the timeout and verify; book every fill."""
        ex = self.settings.execution
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ex.order_timeout_s
        delay = 0.2
        while self.in_flight is not None and self.in_flight.is_open:
            remaining = deadline - loop.time()
            if remaining <= 0:
                # First the timeout cancel; then, while the venue still shows it open, the
                # cancel is repeated (an unknown outcome or a lost reply must not strand it).
                await self._cancel()
                remaining = min(ex.order_timeout_s, 5.0)
                deadline = loop.time() + remaining
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(delay, remaining))
            except TimeoutError:
                await self.poll()
            delay = min(delay * 2, ex.poll_max_interval_s)
        await self.settle_fills()

    async def poll(self) -> None:
        order = self.in_flight
        assert order is not None
        if order.order_id is None and order.status.name in ("INTENT", "SENT"):
            await self.resolve_unknown()
            return
        report = await self._query(order.client_order_id)
        if report is not None:
            await self._apply(OrderStatusReported(report))
        if self.in_flight is not None and self.in_flight.unbooked_qty > 0:
            await self.settle_fills()

    async def _cancel(self) -> None:
        order = self.in_flight
        assert order is not None
        log = logger.bind(client_order_id=order.client_order_id)
        log.info("order timeout: cancelling the remainder {}", order.leaves_qty)
        await self._apply(OrderCancelRequested(self.now_ms()))
        report: OrderReport | None
        try:
            report = await self.rest.cancel_order(order.symbol,
                                                  client_order_id=order.client_order_id)
        except UnknownOrder:
            log.info("cancel: the exchange no longer has it open; verifying")
            report = await self._query(order.client_order_id)
        except (OutcomeUnknown, TransientExchangeError) as exc:
            log.warning("cancel outcome unknown ({}); verifying", exc)
            report = await self._query(order.client_order_id)
        if report is not None:
            await self._apply(OrderStatusReported(report))

    async def cancel_in_flight(self) -> None:
        """Shutdown/halt policy 'cancel': cancel now and let the follow loop verify."""
        if self.in_flight is not None and self.in_flight.is_open \
                and self.in_flight.cancel_requested_ms is None and self.in_flight.order_id:
            await self._cancel()
            self._changed.set()

    async def settle_fills(self) -> None:
        """Fetch the order's trades from REST and book the ones not booked yet."""
        order = self.in_flight
        if order is None or order.order_id is None:
            return
        if order.unbooked_qty <= 0 and not (order.is_terminal and order.filled_qty == 0
                                            and order.venue_executed_qty > 0):
            return
        try:
            fills = await self.rest.my_trades(order.symbol, order_id=order.order_id)
        except ExchangeError as exc:
            logger.warning("myTrades for {} failed ({}); will retry", order.client_order_id, exc)
            return
        for fill in sorted(fills, key=lambda f: (f.time_ms, f.trade_id)):
            await self._apply(OrderFilled(fill))


def _size_args(priced: PricedOrder) -> dict[str, Decimal | None]:
    if priced.quote_order_qty is not None:
        return {"quote_order_qty": priced.quote_order_qty}
    if priced.order_type == "MARKET":
        return {"quantity": priced.qty}
    return {"quantity": priced.qty, "price": priced.price}
