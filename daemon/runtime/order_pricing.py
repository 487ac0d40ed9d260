"""From a trade plan to the order to send: the book top read ONCE per decision (the websocket
book-ticker stream's while fresh, REST bookTicker otherwise), the order priced from it and both
checked against the independent prices (``daemon.domain.pricing``). A plan that sends nothing is
recorded here, with the HOLD that says why when a price was refused: the plan history tells
what happened whether or not the write-ahead (which records a sent plan) ran."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.domain.models import BookTop, ExchangeRules
from daemon.domain.planner import Plan, min_notional_eff
from daemon.domain.pricing import (
    PricedOrder,
    PriceReference,
    PriceRefusal,
    check_book_top,
    order_for,
)
from daemon.domain.reasons import ReasonCode
from daemon.errors import ExchangeError, StateError, StoreUnavailable
from daemon.runtime.settings_ref import SettingsRef

PlanRecord = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BookQuote:
    """A best bid/ask and where it came from ("websocket bookTicker QRLUSDT", "REST bookTicker
    QRLUSDT"): refusals name the source."""

    top: BookTop
    source: str
    from_rest: bool = True


async def read_book(streamed: tuple[BookTop | None, int | None], connected: bool,
                    last_price: Decimal | None, slippage_pct: Decimal, rest: MexcRest,
                    symbol: str, stale_after_s: int, now_ms: int) -> BookQuote | None:
    """The stream's book top (``MarketFeed.book``: the top and the ms it arrived) while fresh
    (``stale_after_s``, as the price), the stream ``connected`` (a dropped one keeps no book
    current) and the kline stream's ``last_price`` within it widened by ``slippage_pct`` (a
    trade further out: the market has moved past what an order priced from it would cross),
    else REST bookTicker; None (logged) when neither is to be had."""
    top, at = streamed
    if connected and top is not None and at is not None and \
            now_ms - at <= stale_after_s * 1000 and _holds(top, last_price, slippage_pct):
        return BookQuote(top, f"websocket bookTicker {symbol}", from_rest=False)
    source = f"REST bookTicker {symbol}"
    try:
        return BookQuote(await rest.book_top(symbol), source)
    except ExchangeError as exc:
        logger.warning("no fresh best bid/ask (the stream's is stale; {}: {})", source, exc)
        return None


def _holds(top: BookTop, last_price: Decimal | None, slippage_pct: Decimal) -> bool:
    if last_price is None:
        return True
    s = slippage_pct / 100
    return top.bid_price * (1 - s) <= last_price <= top.ask_price * (1 + s)


def spread_top(quote: BookQuote | None, reference: PriceReference,
               max_deviation_pct: Decimal) -> BookTop | None:
    """The book top a decision's spread check reads: REST's only once checked against the
    kline price and the MAs (an order is priced only from a checked one, whatever its
    source: ``OrderPricing``)."""
    if quote is None or not quote.from_rest:
        return None if quote is None else quote.top
    refusal = check_book_top(quote.top, reference, max_deviation_pct, quote.source)
    if refusal is not None:
        logger.warning("best bid/ask not used: {}", refusal.reason)
        return None
    return quote.top


class OrderPricing:
    def __init__(self, settings: SettingsRef, rest: MexcRest, store: RedisStore,
                 free_quote: Callable[[], Decimal], now_ms: Callable[[], int]) -> None:
        self._settings = settings
        self._rest = rest
        self._store = store
        self._free_quote = free_quote
        self._now_ms = now_ms

    async def price(self, plan: Plan, cycle_id: str, rules: ExchangeRules,
                    reference: PriceReference, quote: BookQuote | None,
                    record: PlanRecord | None) -> PricedOrder | None:
        """The book top (``quote``, else REST now), checked against ``reference``; the order
        priced from it, and its price checked too. None when nothing is to be sent (logged,
        the plan ``record`` written; a refused price also recorded as a HOLD plan naming the
        source and the value)."""
        assert plan.side is not None
        settings = self._settings.current
        ex, risk = settings.execution, settings.risk
        if quote is None:
            source = f"REST bookTicker {rules.symbol}"
            try:
                quote = BookQuote(await self._rest.book_top(rules.symbol), source)
            except ExchangeError as exc:  # garbage, a proxy's page, a refusal: no price
                await self.refuse(plan, cycle_id, PriceRefusal(
                    ReasonCode.NO_PRICE, f"{source}: no book top to price the order from "
                    f"({exc})"), record)
                return None
        outcome = order_for(
            plan.side, plan.quantity, quote.top, reference, rules, order_type=ex.order_type,
            slippage_pct=ex.slippage_pct, spendable_quote=self._free_quote() - risk.usdt_reserve,
            min_notional=min_notional_eff(rules, risk.params()),
            max_deviation_pct=risk.max_price_deviation_pct, source=quote.source)
        if isinstance(outcome, PricedOrder):
            return outcome
        if outcome is None:
            await self.record_plan(record, cycle_id)
            logger.bind(cycle_id=cycle_id).warning(
                "order skipped: below the minimum at the current book {}", quote.top)
            return None
        await self.refuse(plan, cycle_id, outcome, record)
        return None

    async def record_plan(self, record: PlanRecord | None, cycle_id: str) -> None:
        """The plan record, when no intent was written with it."""
        if record is None:
            return
        try:
            await self._store.record_plan(record)
        except (StoreUnavailable, StateError) as exc:
            logger.bind(cycle_id=cycle_id).error("the plan was not recorded ({})", exc)

    async def refuse(self, plan: Plan, cycle_id: str, refusal: PriceRefusal,
                     record: PlanRecord | None = None) -> None:
        """Log a refused price and record it as a HOLD plan (after the trade plan it turns
        down, ``record`` when not written yet), so the plan history says why nothing was
        sent."""
        await self.record_plan(record, cycle_id)
        log = logger.bind(cycle_id=cycle_id)
        held = replace(plan, action="HOLD", side=None, quantity=Decimal(0),
                       notional=Decimal(0), reason_code=refusal.code,
                       reason=f"HOLD: order not sent: {refusal.reason}", core_floor_init=None)
        record = {"cycle_id": cycle_id, "trigger": "order_price_check",
                  "time_ms": self._now_ms(), "mode": self._settings.current.mode.value,
                  "dry_run": False, **held.to_dict()}
        try:
            await self._store.record_plan(record)
        except (StoreUnavailable, StateError) as exc:
            log.error("the refusal below was not recorded as a plan ({})", exc)
        log.error("order NOT sent: [{}] {}", refusal.code, refusal.reason)
