"""The portfolio orchestrator (STRATEGY.md v3): several pairs against one quote asset, one
decision over every leg (``evaluate_portfolio``), SELL legs first, BUY legs only after every
SELL leg is final, sized then from the quote actually free (the account read again after the
sells' fills are booked), never from expected proceeds.

Everything the single-pair engine does for the process (lease, heartbeat, halt, manual
requests, reload, alerts, health endpoint) it inherits; per pair it keeps today's parts
(``PairUnit``: books, executor, market feed). The SELL legs are placed one after another, each
followed to its end by its pair's executor (client ids, write-ahead intents, partial fills,
cancel at the timeout: unchanged per leg); then the BUY legs, one after another.

After a crash the unsettled orders of every pair are followed first (as the single pair does),
then a NEW evaluation decides afresh from the books and balances: a plan is never resumed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from loguru import logger

from daemon.adapters.mexc.ws import WsStream
from daemon.adapters.redis_store import RedisStore
from daemon.config import Mode, Settings
from daemon.domain.alert_rules import AssetDay, BasketDayFigures, DayFigures, order_text
from daemon.domain.candles import CrossoverEvent
from daemon.domain.client_ids import evaluation_cycle_id
from daemon.domain.models import Balance, ExchangeRules, Side
from daemon.domain.orders import Order
from daemon.domain.portfolio import (
    Leg,
    LegInput,
    PortfolioPlan,
    PortfolioSnapshot,
    evaluate_portfolio,
    size_buy_legs,
)
from daemon.errors import (
    BooksChanged,
    RebalancerError,
    StateError,
    StoreUnavailable,
    TradingHalted,
)
from daemon.runtime import snapshots
from daemon.runtime.crashpoints import crash_point
from daemon.runtime.engine import Parts, RebalancerEngine, _no_decision, wall_ms
from daemon.runtime.executor import Executor
from daemon.runtime.health import evaluation_limit_s
from daemon.runtime.ledger import Ledger
from daemon.runtime.market_feed import PairFeed
from daemon.runtime.order_pricing import BookQuote, read_book, spread_top
from daemon.runtime.portfolio_heartbeat import PortfolioHeartbeat
from daemon.runtime.portfolio_http import PortfolioHttpEndpoint
from daemon.runtime.portfolio_market import HubMarket
from daemon.runtime.portfolio_pairs import pair_settings, process_settings
from daemon.runtime.portfolio_report import (
    PortfolioCollector,
    basket_gauges,
    checkpoint_part,
    portfolio_inputs,
)
from daemon.runtime.portfolio_report import figures as report_figures
from daemon.runtime.portfolio_report import status_line as report_line
from daemon.runtime.recovery import initial_cost_basis, reconcile_with_venue
from daemon.runtime.settings_ref import SettingsRef
from daemon.runtime.startup import StartupRetry

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(slots=True)
class PairUnit:
    """One pair of the portfolio: today's single-pair parts."""

    asset: str
    weight: Decimal
    settings: SettingsRef  # the pair's single-pair settings
    store: RedisStore  # its process keys may live under the portfolio prefix
    rules: ExchangeRules
    ledger: Ledger
    executor: Executor
    market: PairFeed  # one asset: its MarketFeed; several: its HubPair of the engine's hub

    @property
    def symbol(self) -> str:
        return self.rules.symbol


class PortfolioEngine(RebalancerEngine):
    def __init__(self, parts: Parts, units: tuple[PairUnit, ...]) -> None:
        self.units = units
        super().__init__(parts)
        self.last_portfolio: PortfolioPlan | None = None
        self.heartbeat = PortfolioHeartbeat(
            units, settings=self.settings, store=self.store, rest=self.rest, lease=self.lease,
            ledger=self.ledger, executor=self.executor, scheduler=self.scheduler,
            recover=self.recover, checkpoint=self.checkpoint, wall_ms=wall_ms)
        self.heartbeat.on_halt = self._halt_seen
        for unit in units[1:]:  # the first pair's executor is the engine's (wired above)
            unit.executor.on_finished = partial(self._order_finished, unit.rules)
            unit.executor.on_conflict = self.ops.trading_stopped
        self.metrics.registry.register(PortfolioCollector(units))
        if len(units) > 1:  # the single pair's gauges show the basket's totals
            self.metrics.collector.basket = partial(basket_gauges, units)
        if self.http is not None:
            self.http = PortfolioHttpEndpoint(self, self.http.listen)

    def _order_finished(self, rules: ExchangeRules, order: Order) -> None:
        """An order of a pair other than the first, followed to its end: notified with its
        pair's rules (its symbol, its precision)."""
        if order.status.terminal:
            self.alerts.emit("order", *order_text(order, rules))

    @property
    def name(self) -> str:
        """The basket in notification titles: ``portfolio QRL, BTC against USDT``."""
        return (f"portfolio {', '.join(u.asset for u in self.units)} against "
                f"{self.units[0].rules.quote_asset}")

    async def _day_figures(self, start_ms: int, end_ms: int
                           ) -> DayFigures | BasketDayFigures:
        """The basket's daily summary: its total value and PnL now, each pair's fills in
        [start, end) from its own books."""
        t = report_figures(self.units)
        days = [AssetDay(u.rules, tuple(await u.store.get_fills(start_ms, end_ms)))
                for u in self.units]
        return BasketDayFigures(self.name, t.value, t.realized_pnl, t.unrealized_pnl,
                                tuple(days))

    def unit(self, asset: str) -> PairUnit:
        return next(u for u in self.units if u.asset == asset)

    def _leg_cycle(self, cycle_id: str, index: int) -> str:
        """Each leg its own cycle id (client order ids are the account's, not the pair's):
        the evaluation's, plus the leg's index for several legs."""
        return cycle_id if len(self.units) == 1 else cycle_id + _B36[index % 36]

    # -- startup ----------------------------------------------------------------------------
    async def recover(self, retry: StartupRetry | None = None) -> None:
        await self.scheduler.abort()
        async with self.lease.kept_alive():
            if retry is None:
                await self._reload_and_reconcile()
            else:
                await retry("reconciliation with the exchange", self._reload_and_reconcile)
        self.lease.recovered()
        if self._unsettled() or await self._buys_left_pending():
            self.scheduler.trigger("recovery")

    async def _buys_left_pending(self) -> bool:
        """The last evaluation planned BUY legs to wait for its SELL legs and stopped before
        sizing them (a crash between the two): decide again now, not at the next slot (its
        BUYs are decided afresh, never resumed from that plan)."""
        last = await self.store.plan_history(1)
        return bool(last) and bool(last[0].get("buys_pending")) and (
            last[0].get("trigger") != "sells_final")

    def _unsettled(self) -> list[Any]:
        return [o for u in self.units for o in u.ledger.unsettled()]

    async def _reload_and_reconcile(self) -> None:
        for unit in self.units:
            await unit.ledger.reload_all()
        self._halt_seen(await self.store.get_halt())
        if not self.user_feeds:
            logger.info("no API keys: no orders to reconcile (nothing can have been placed)")
            return
        for unit in self.units:
            if unit.ledger.cost.avg_cost is None and not unit.ledger.cost.fills:
                await self._init_unit_cost(unit)
            await reconcile_with_venue(self.rest, unit.ledger, unit.settings.current, wall_ms())

    async def _init_unit_cost(self, unit: PairUnit) -> None:
        """First start of a pair: its recent trades (one initial_cost_basis cannot be every
        asset's: it is used only for a one-asset portfolio)."""
        fresh = await self.rest.account()
        for u in self.units:
            u.ledger.update_balances(fresh)
        base = fresh.get(unit.rules.base_asset)
        held = base.total if base else Decimal(0)
        initial = unit.settings.current.strategy.initial_cost_basis
        found = await initial_cost_basis(self.rest, unit.rules,
                                         initial if len(self.units) == 1 else None, held)
        if found is None:
            return
        cost, source = found
        await unit.ledger.set_cost_basis(cost)
        logger.info("{}: cost basis initialised from {}: {}", unit.symbol, source,
                    cost.avg_cost)

    # -- running ----------------------------------------------------------------------------
    async def on_pair_crossover(self, asset: str, event: CrossoverEvent) -> None:
        """A crossover on any pair evaluates the whole portfolio."""
        logger.info("market {}: {} crossover", self.unit(asset).symbol, event.trend.value)
        if self.settings.current.schedule.evaluate_on_crossover:
            self.scheduler.trigger("crossover")

    async def _evaluate(self, trigger: str) -> None:
        if not self.lease.may_decide:
            if self._quiet_phase is not self.lease.phase:
                logger.info("{}: not deciding ({}; said once)", self.lease.phase.value, trigger)
                self._quiet_phase = self.lease.phase
            await self.manual.decline(_no_decision([]))
            return
        self._quiet_phase = None
        for unit in self.units:
            for order in unit.ledger.unsettled():
                logger.bind(client_order_id=order.client_order_id).info(
                    "order {} ({}) is {}: following it before any new decision",
                    order.client_order_id, unit.symbol, order.status.value)
                await unit.executor.follow_existing(order)
        if self._unsettled() or not self.lease.may_decide:
            await self.manual.decline(_no_decision(self._unsettled()))
            return
        async with self._settings_lock:
            decided = await self._decide_portfolio(trigger)
        if decided is None:
            return
        try:
            await self._execute(*decided)
        except TradingHalted:
            try:
                self._halt_seen(await self.store.get_halt())
            except StoreUnavailable:
                return
            except StateError as exc:
                self.lease.suspend(str(exc))
                return
            self.scheduler.trigger("halted")
        except BooksChanged:
            self.scheduler.trigger("books_changed")

    async def _decide_portfolio(self, trigger: str) -> tuple[
            PortfolioSnapshot, PortfolioPlan, str, dict[str, BookQuote | None],
            dict[str, Any]] | None:
        started = time.perf_counter()
        settings = self.settings.current
        now = wall_ms()
        self._last_cycle_ms = max(now, self._last_cycle_ms + 1)
        cycle_id = evaluation_cycle_id(self._last_cycle_ms)
        log = logger.bind(cycle_id=cycle_id)
        try:
            ps, quotes = await self._snapshot(now)
            plan = evaluate_portfolio(ps, settings.strategy.params(), settings.risk.params())
            for leg in plan.legs:
                if leg.plan.core_floor_init is not None:
                    await self.unit(leg.asset).ledger.set_core_floor(
                        leg.plan.core_floor_init, "init")
        except StoreUnavailable:
            log.warning("Redis unavailable: not deciding until it is back")
            return None
        except BooksChanged as exc:
            log.warning("the books changed while deciding ({}); deciding again", exc)
            self.scheduler.trigger("books_changed")
            return None
        except StateError as exc:
            self.lease.suspend(str(exc))
            return None
        requests = self.manual.take_all()
        record = self._record(plan, cycle_id, "manual" if requests else trigger, now)
        if requests:
            record["manual"] = [r.to_dict() for r in requests]
        await self.store.record_plan(record)
        for leg in plan.legs:
            self.metrics.decided(leg.plan.reason_code, "manual" if requests else trigger,
                                 started)
        await self.manual.answer(requests, record)
        self._decided(plan, now)
        live = settings.mode is Mode.LIVE
        for leg in plan.legs:
            self._log_leg(leg, cycle_id, live, bool(requests), now)
        if not live or not (plan.sells or plan.buys or plan.buys_pending):
            return None
        return ps, plan, cycle_id, quotes, record

    def _decided(self, plan: PortfolioPlan, now: int) -> None:
        self.last_portfolio, self.evaluations = plan, self.evaluations + 1
        self.last_plan = plan.legs[0].plan
        self.ops.drift_decided(plan.drift, now, self.name)

    def _record(self, plan: PortfolioPlan, cycle_id: str, trigger: str, now: int
                ) -> dict[str, Any]:
        s = self.settings.current
        return {"cycle_id": cycle_id, "trigger": trigger, "time_ms": now,
                "mode": s.mode.value, "dry_run": s.mode is not Mode.LIVE, "portfolio": True,
                **plan.to_dict()}

    def _log_leg(self, leg: Leg, cycle_id: str, live: bool, manual: bool, now: int) -> None:
        unit = self.unit(leg.asset)
        level, prefix = self.decision_log.level(leg.plan, now)
        window = unit.market.window
        logger.bind(cycle_id=cycle_id).log(
            "INFO" if manual else level, "{}{}: {}{}{}", prefix, unit.symbol,
            self.decision_log.line(leg.plan, unit.market.last_price, window.ma_short,
                                   window.ma_long, unit.rules.quote_precision),
            " (BUY waits for the SELL legs)" if leg.pending else "",
            "" if live or not leg.plan.is_trade else " (dry_run: not sent)")

    async def _snapshot(self, now: int) -> tuple[PortfolioSnapshot, dict[str, BookQuote | None]]:
        settings = self.settings.current
        if self.halt is not None:
            self._halt_seen(await self.store.get_halt())
        legs: list[LegInput] = []
        quotes: dict[str, BookQuote | None] = {}
        for unit in self.units:
            m = unit.market
            quote = await read_book(m.book, m.stream.connected.is_set(), m.last_price,
                                    settings.execution.slippage_pct, self.rest, unit.symbol,
                                    settings.risk.stale_after_s, now)
            top = spread_top(quote, m.reference(), settings.risk.max_price_deviation_pct)
            snap = snapshots.planner_snapshot(m, unit.ledger, unit.rules, now,
                                              self.halt is not None, top)
            legs.append(LegInput(unit.asset, unit.weight, snap))
            quotes[unit.asset] = quote
        quote_balance = legs[0].snapshot.quote
        return PortfolioSnapshot(quote_balance, tuple(legs), self.halt is not None), quotes

    async def _execute(self, ps: PortfolioSnapshot, plan: PortfolioPlan, cycle_id: str,
                       quotes: dict[str, BookQuote | None], record: dict[str, Any]) -> None:
        """The SELL legs one after another, each to its end; then the BUY legs sized from the
        quote free now (the account read again), one after another."""
        index = {leg.asset: i for i, leg in enumerate(plan.legs)}
        for leg in plan.sells:
            if not await self._place(leg, self._leg_cycle(cycle_id, index[leg.asset]),
                                     quotes[leg.asset]):
                return
        if plan.sells and plan.buys_pending:
            crash_point("between_sells_and_buys")
            plan = await self._size_buys(ps, plan, cycle_id)
        for leg in plan.buys:
            # the book read before the sells is old now: the executor asks again (None)
            fresh = quotes[leg.asset] if not plan.sells else None
            if not await self._place(leg, self._leg_cycle(cycle_id, index[leg.asset]), fresh):
                return

    async def _size_buys(self, ps: PortfolioSnapshot, plan: PortfolioPlan, cycle_id: str
                         ) -> PortfolioPlan:
        settings = self.settings.current
        fresh: dict[str, Balance] = await self.rest.account()
        for unit in self.units:
            unit.ledger.update_balances(fresh)
        quote = ps.quote.asset
        free = fresh[quote].free if quote in fresh else Decimal(0)
        sized = size_buy_legs(ps, plan, settings.strategy.params(), settings.risk.params(),
                              free)
        logger.bind(cycle_id=cycle_id).info(
            "SELL legs final; {} {} free: BUY legs sized {}", free, quote,
            ", ".join(f"{leg.asset} {leg.plan.action} {leg.plan.quantity}"
                      for leg in sized.legs if leg.pending or leg.plan.side is not None)
            or "(none)")
        record = self._record(sized, cycle_id, "sells_final", wall_ms())
        await self.store.record_plan(record)
        self.last_portfolio = sized
        return sized

    async def _place(self, leg: Leg, cycle_id: str, quote: BookQuote | None) -> bool:
        """One leg's order to its end; False when the evaluation must stop here (nothing
        sent, or the lease no longer lets it decide)."""
        unit = self.unit(leg.asset)
        order = await unit.executor.execute(leg.plan, cycle_id, unit.rules,
                                            unit.market.reference(), quote, None)
        if order is None or not self.lease.may_decide:
            return False
        if leg.plan.side is Side.SELL and unit.ledger.unsettled():
            # e.g. its cancel failed at the timeout: it stays followed, and the BUY legs wait
            # for the next evaluation (never placed while a SELL leg is not final)
            logger.bind(client_order_id=order.client_order_id).warning(
                "{}: the SELL leg is not final ({}); the BUY legs wait", unit.symbol,
                order.status.value)
            return False
        return True

    # -- reload -----------------------------------------------------------------------------
    async def apply_settings(self, settings: Settings) -> None:
        """The process's settings and every pair's. The averages of every pair's candle
        window stay: a change of MA settings is refused (RebalancerError, nothing applied;
        restart the daemon to apply it)."""
        st, new = self.settings.current.strategy, settings.strategy
        if (st.ma_short, st.ma_long, st.deadband) != (new.ma_short, new.ma_long, new.deadband):
            raise RebalancerError("strategy.ma_short/ma_long/deadband of a portfolio change "
                                  "every pair's candle window: restart the daemon to apply "
                                  "them")
        await super().apply_settings(process_settings(settings))
        for unit in self.units:
            unit.settings.current = pair_settings(settings, unit.asset)

    # -- health, stopping -------------------------------------------------------------------
    def health(self) -> str | None:
        market = self.market
        streams: list[WsStream]
        deaf: tuple[str | None, ...]
        if isinstance(market, HubMarket):  # several assets: the hub's connections
            streams, deaf = list(market.hub.streams), tuple(market.hub.deaf())
        else:  # one asset: its own feed
            streams, deaf = [market.stream], (market.deaf(),)
        limit = evaluation_limit_s(self.settings.current.execution.order_timeout_s)
        return self.health_check.problem(
            [*streams, *(feed.stream for feed in self.user_feeds)],
            self.scheduler.running_s(), limit, extra=deaf)

    def checkpoint(self, stopped: bool = False) -> dict[str, Any]:
        beat = super().checkpoint(stopped)
        flights = [u.executor.in_flight for u in self.units if u.executor.in_flight]
        beat["in_flight"] = flights[0].client_order_id if flights else None
        beat["portfolio"] = checkpoint_part(self.units)
        # what `rebalancer plan` without --snapshot evaluates: every leg's inputs now
        beat["portfolio"]["snapshot"] = portfolio_inputs(self.units, self.settings.current,
                                                         int(beat["time_ms"]))
        return beat

    def status_line(self) -> str:
        s = self.settings.current
        plan = self.last_portfolio
        last = "none" if plan is None else ", ".join(
            f"{leg.asset}:{leg.plan.action}:{leg.plan.reason_code}" for leg in plan.legs)
        line = (f"portfolio {s.mode.value} {'trading' if self.lease.holds else 'standby'} "
                f"{report_line(self.units)} last={last}")
        problem = self.health()
        return line if problem is None else f"{line}; UNHEALTHY: {problem}"

    async def stop(self) -> None:
        self.lease.stop()
        if self.settings.current.execution.on_shutdown == "cancel":
            async with self.lease.kept_alive():
                for unit in self.units[1:]:
                    await unit.executor.cancel_in_flight()
        await super().stop()

    async def close(self) -> None:
        if self._closed:
            return
        await super().close()
        for unit in self.units[1:]:  # their market data stopped with the engine's hub
            try:
                await unit.store.close()
            except Exception as exc:
                logger.error("closing: a step failed ({!r}); going on", exc)
