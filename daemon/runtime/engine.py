"""The one orchestrator. Data flows one way:

    streams -> candle window / balances -> Snapshot -> planner -> Plan -> (live) executor
            -> exchange -> fills -> ledger (Redis, atomically) -> next Snapshot

Its parts are built up front by ``daemon.runtime.compose.build_engine`` (Redis state and
exchange rules are loaded there). ``start`` then runs, in order: market backfill and streams,
the private stream, the lease, reconciliation with the exchange; only then does it decide
(lease phase TRADING). Every background task runs under the one ``Supervisor``; the heartbeat
(``run``) renews the lease. The lease phase is the whole state: STANDBY / RECOVERING /
TRADING / STOPPING.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from loguru import logger

from daemon.adapters import redis_reload
from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_records import Halt
from daemon.adapters.redis_store import RedisStore
from daemon.config import Mode, Settings
from daemon.domain.alert_rules import BasketDayFigures, DayFigures
from daemon.domain.candles import CrossoverEvent
from daemon.domain.client_ids import evaluation_cycle_id
from daemon.domain.models import ExchangeRules
from daemon.domain.money import shown
from daemon.domain.planner import Plan, evaluate
from daemon.errors import (
    BooksChanged,
    ProtocolError,
    RebalancerError,
    StateError,
    StoreUnavailable,
    TradingHalted,
)
from daemon.runtime import snapshots
from daemon.runtime.alert_watch import OpsAlerts
from daemon.runtime.alerts import Alerts
from daemon.runtime.decision_log import DecisionLog
from daemon.runtime.executor import Executor
from daemon.runtime.health import HealthCheck, evaluation_limit_s
from daemon.runtime.heartbeat import Heartbeat
from daemon.runtime.http_endpoint import HttpEndpoint
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.manual import ManualRequests
from daemon.runtime.market_feed import Market, MarketFeed, UserFeed
from daemon.runtime.metrics import Metrics
from daemon.runtime.order_pricing import BookQuote, read_book, spread_top
from daemon.runtime.recovery import initial_cost_basis, reconcile_with_venue
from daemon.runtime.scheduler import EvaluationScheduler
from daemon.runtime.settings_ref import SettingsRef
from daemon.runtime.startup import StartupRetry
from daemon.runtime.supervisor import Supervised, Supervisor

Decided = tuple[Plan, str, BookQuote | None, dict[str, Any] | None]
CLOSE_TIMEOUT_S = 5.0  # each step of closing (a stream, the lease, a connection)
ALERTS_DRAIN_S = 3.0  # at most this long (and a quarter of the grace) for the last messages


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything the engine runs on, built by the composition root."""

    settings: SettingsRef
    store: RedisStore
    rest: MexcRest
    rules: ExchangeRules
    lease: TradingLease
    ledger: Ledger
    executor: Executor
    market: Market  # MarketFeed; a portfolio of several assets: HubMarket
    user_feeds: tuple[UserFeed, ...]  # the private stream; none without API keys
    supervisor: Supervisor
    startup: StartupRetry | None = None  # the startup's retry (and deadline), from compose


class RebalancerEngine:
    def __init__(self, parts: Parts) -> None:
        self.settings = parts.settings
        self.store = parts.store
        self.rest = parts.rest
        self.rules = parts.rules
        self.lease = parts.lease
        self.ledger = parts.ledger
        self.executor = parts.executor
        self.market = parts.market
        self.user_feeds = parts.user_feeds
        self.supervisor = parts.supervisor
        self.startup = parts.startup or StartupRetry(
            self.settings.current.runtime.startup_timeout_s)
        self.scheduler = EvaluationScheduler(self.evaluate, self.settings.current.schedule
                                             .interval_s, self.supervisor)
        self.heartbeat = Heartbeat(
            self.settings, store=self.store, rest=self.rest, lease=self.lease,
            ledger=self.ledger, executor=self.executor, scheduler=self.scheduler,
            recover=self.recover, checkpoint=self.checkpoint, wall_ms=wall_ms)
        self.manual = ManualRequests(self.store, self.lease, self.scheduler.trigger, wall_ms)
        self.health_check = HealthCheck()
        self.decision_log = DecisionLog()
        self.last_plan: Plan | None = None
        self.evaluations = 0
        self._settings_lock = asyncio.Lock()
        self._closed = False
        self._units: list[Supervised] = []  # the engine's own background tasks
        self._quiet_phase: Phase | None = None  # the phase "not deciding" was said for
        self._last_cycle_ms = 0  # the millisecond the last evaluation's cycle id was made of
        self.ready = False  # start() finished: deciding (or standing by)
        self.metrics = Metrics()
        self.metrics.watch(self)
        listen = self.settings.current.health.listen
        self.http = None if listen is None else HttpEndpoint(self, listen)
        self.alerts = Alerts(self.settings.current.notify,  # counters: sent, failed, dropped
                             log_level=self.settings.current.log.level)
        self.ops = OpsAlerts(self.settings, self.alerts, self.rules, self.store, wall_ms)
        self.executor.on_finished = self.ops.order_finished
        self.executor.on_conflict = self.ops.trading_stopped
        self.lease.on_stop = self.ops.trading_stopped
        self.lease.on_trading = self.ops.trading_again
        self.heartbeat.on_halt = self._halt_seen
        # the halt flag as last read (heartbeat, decisions while halted); the write-ahead
        # script refuses an intent while it is set, whatever this says
        self.halt: Halt | None = None
        self._evaluating = 0  # evaluations running (one, from the scheduler; tests call more)
        self.alerts.hold = lambda: self._evaluating > 0

    # -- startup ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Streams, lease, reconciliation, each step retried while it fails transiently
        (``daemon.runtime.startup``); a failure closes everything (nothing half-started keeps
        running)."""
        try:
            if self.http is not None:  # first: a starting daemon answers 503 "starting"
                await self.http.start()
            await self.alerts.open()  # a URL that cannot be used stops the start (ConfigError)
            self._units.append(self.supervisor.spawn("notify", self.alerts.run))
            self._units.append(self.supervisor.spawn(
                "alert-watch", partial(self.ops.watch, self._day_figures)))
            await self.startup("kline backfill", self.market.start)
            for feed in self.user_feeds:
                await self.startup("balances and listenKey", feed.start)
            if not self.user_feeds:
                logger.warning("no API keys: balances are unknown, plans will say so (dry_run)")
            if await self.lease.take():
                await self.recover(self.startup)
            self.scheduler.start()
            # its own unit: the supervisor cancels it again should a Redis call lose a cancel
            self._units.append(self.supervisor.spawn("manual-requests", self.manual.run))
            self.ops.started(self.status_line())
            self.ready = True
        except BaseException:
            await self.close()
            raise

    async def recover(self, retry: StartupRetry | None = None) -> None:
        """RECOVERING -> TRADING: the books reloaded from Redis (another instance may have
        traded since this one read them, or they were rebuilt), then our orders and books
        reconciled with the exchange (at startup through ``retry``, the lease kept)."""
        await self.scheduler.abort()
        async with self.lease.kept_alive():
            if retry is None:
                await self._reload_and_reconcile()
            else:
                await retry("reconciliation with the exchange", self._reload_and_reconcile)
        self.lease.recovered()
        if self.ledger.unsettled():
            # Orders still open at the exchange: the evaluation path follows them (cancel at
            # the timeout) before it decides anything new; start it now.
            self.scheduler.trigger("recovery")

    async def _reload_and_reconcile(self) -> None:
        await self.ledger.reload_all()
        self._halt_seen(await self.store.get_halt())  # decisions read it from memory
        if not self.user_feeds:
            logger.info("no API keys: no orders to reconcile (nothing can have been placed)")
        else:
            if self.ledger.cost.avg_cost is None and not self.ledger.cost.fills:
                await self._init_cost_basis()
            await reconcile_with_venue(self.rest, self.ledger, self.settings.current,
                                       wall_ms())

    async def _init_cost_basis(self) -> None:
        """First start: config initial_cost_basis, else the account's recent trades. The
        balances the books are seeded from are read again and must agree with the stream's
        (a balance x1000 is consistent in itself: only a second answer shows it)."""
        await self._confirm_balances()
        base = self.ledger.balances.get(self.rules.base_asset)
        held = base.total if base else Decimal(0)
        found = await initial_cost_basis(
            self.rest, self.rules, self.settings.current.strategy.initial_cost_basis, held)
        if found is None:
            return
        cost, source = found
        await self.ledger.set_cost_basis(cost)
        logger.info("cost basis initialised from {}: {}", source, cost.avg_cost)

    async def _confirm_balances(self) -> None:
        """ProtocolError (startup asks again) when a fresh GET /api/v3/account disagrees with
        the balances held; the fresh answer is kept, so the next try compares the next two."""
        held = dict(self.ledger.balances)
        fresh = await self.rest.account()
        self.ledger.update_balances(fresh)
        for asset in (self.rules.base_asset, self.rules.quote_asset):
            before, now = held.get(asset), fresh.get(asset)
            was = before.total if before else Decimal(0)
            is_ = now.total if now else Decimal(0)
            if was != is_:
                raise ProtocolError(
                    f"GET /api/v3/account: two reads of the balances disagree ({asset} {was} "
                    f"then {is_}); the books are not seeded from either, asking again")

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """The heartbeat (lease, heartbeat key, halt policy, LOST watch) until cancelled."""
        await self.heartbeat.run()

    async def on_crossover(self, event: CrossoverEvent) -> None:
        px, window = self.rules.quote_precision, self.market.window
        logger.info("market {}: {} crossover at the candle of {} UTC (MA_{} {} MA_{} {})",
                    self.rules.symbol, event.trend.value, _utc(event.open_time_ms),
                    window.short, shown(event.ma_short, px), window.long,
                    shown(event.ma_long, px))
        if self.settings.current.schedule.evaluate_on_crossover:
            self.scheduler.trigger("crossover")

    async def evaluate(self, trigger: str) -> None:
        """One evaluation (the scheduler runs one at a time): first follow any order of ours
        that is not settled, then decide (only while TRADING), then (live) execute.
        Notifications wait while it runs (``Alerts.hold``)."""
        self._evaluating += 1
        try:
            await self._evaluate(trigger)
        finally:
            self._evaluating -= 1

    async def _evaluate(self, trigger: str) -> None:
        if not self.lease.may_decide:
            if self._quiet_phase is not self.lease.phase:  # said once per phase, not per tick
                logger.info("{}: not deciding ({}; said once)", self.lease.phase.value, trigger)
                self._quiet_phase = self.lease.phase
            await self.manual.decline(_no_decision([]))
            return
        self._quiet_phase = None
        for order in self.ledger.unsettled():
            logger.bind(client_order_id=order.client_order_id).info(
                "order {} is {}: following it before any new decision", order.client_order_id,
                order.status.value)
            await self.executor.follow_existing(order)
        if self.ledger.unsettled() or not self.lease.may_decide:
            # still blocked (logged by the executor), or stopping: no new decision
            await self.manual.decline(_no_decision(self.ledger.unsettled()))
            return
        async with self._settings_lock:  # settings swap only between decisions
            decided = await self._decide(trigger)
        if decided is None:
            return
        plan, cycle_id, quote, record = decided
        try:
            # the independent prices the book is checked against
            await self.executor.execute(plan, cycle_id, self.rules, self.market.reference(),
                                        quote, record)
        except TradingHalted:  # set since the flag was last read: read it, decide again
            try:
                self._halt_seen(await self.store.get_halt())
            except StoreUnavailable:
                return  # the heartbeat reads it once Redis is back
            except StateError as exc:
                self.lease.suspend(str(exc))
                return
            self.scheduler.trigger("halted")
        except BooksChanged:  # reloaded (``core set``?): decide again on what Redis holds
            self.scheduler.trigger("books_changed")

    async def _decide(self, trigger: str) -> Decided | None:
        """The plan, its cycle id, the book top it read, and (a live trade) its record,
        which the executor writes with the intent: nothing is written to Redis before that
        one write. The books and the halt flag are read from memory (the write-ahead script
        is the authority on both); Redis is read only to confirm a halt the memory says."""
        started = time.perf_counter()  # the decision latency's start (metrics)
        settings = self.settings.current
        now = wall_ms()
        # one id per evaluation (a later millisecond than the last one's): the client order
        # ids derive from it, a new order of the same evaluation takes the next attempt
        self._last_cycle_ms = max(now, self._last_cycle_ms + 1)
        cycle_id = evaluation_cycle_id(self._last_cycle_ms)
        log = logger.bind(cycle_id=cycle_id)
        try:
            plan, quote = await self._plan(now)
        except StoreUnavailable:
            log.warning("Redis unavailable: not deciding until it is back")
            return None
        except BooksChanged as exc:  # reloaded: decide again on what Redis holds
            log.warning("the books changed while deciding ({}); deciding again", exc)
            self.scheduler.trigger("books_changed")
            return None
        except StateError as exc:
            self.lease.suspend(str(exc))
            return None
        live = settings.mode is Mode.LIVE
        requests = self.manual.take_all()
        record = {"cycle_id": cycle_id, "trigger": "manual" if requests else trigger,
                  "time_ms": now, "mode": settings.mode.value, "dry_run": not live,
                  **plan.to_dict()}
        if requests:
            record["manual"] = [r.to_dict() for r in requests]
        executes = live and plan.is_trade
        if not executes or requests:  # an operator's answer carries a recorded plan
            await self.store.record_plan(record)
        self.metrics.decided(plan.reason_code, "manual" if requests else trigger, started)
        await self.manual.answer(requests, record)
        self.last_plan, self.evaluations = plan, self.evaluations + 1
        self.ops.plan_decided(plan, now)
        window = self.market.window
        level, prefix = self.decision_log.level(plan, now)
        level = "INFO" if requests else level  # an operator's request is always answered
        log.log(level, "{}{}{}", prefix, self.decision_log.line(
            plan, self.market.last_price, window.ma_short, window.ma_long,
            self.rules.quote_precision), "" if live or not plan.is_trade
            else " (dry_run: not sent)")
        if not executes:
            return None
        return plan, cycle_id, quote, None if requests else record

    async def _plan(self, now: int) -> tuple[Plan, BookQuote | None]:
        """The planner's decision on the books and halt flag in memory (the flag confirmed
        from Redis only while it says halted: perhaps resumed since) and the book top read
        once for the decision and the order; the core floor initialised (a fenced write)
        when the planner asks."""
        settings = self.settings.current
        if self.halt is not None:
            self._halt_seen(await self.store.get_halt())
        market = self.market
        quote = await read_book(market.book, market.stream.connected.is_set(),
                                market.last_price, settings.execution.slippage_pct, self.rest,
                                self.rules.symbol, settings.risk.stale_after_s, now)
        top = spread_top(quote, self.market.reference(), settings.risk.max_price_deviation_pct)
        snapshot = snapshots.planner_snapshot(self.market, self.ledger, self.rules, now,
                                              self.halt is not None, top)
        plan = evaluate(snapshot, settings.strategy.params(), settings.risk.params())
        if plan.core_floor_init is not None:
            await self.ledger.set_core_floor(plan.core_floor_init, "init")
        return plan, quote

    def _halt_seen(self, halt: Halt | None) -> None:
        """Each read of the halt flag (heartbeat, startup, a decision while halted)."""
        self.halt = halt
        self.ops.halt_seen(halt)

    # -- reload -----------------------------------------------------------------------------
    async def apply_settings(self, settings: Settings) -> None:
        """All or nothing: what can fail (a new candle window, the notification URLs) is
        readied before anything changes; RebalancerError/ConfigError (nothing applied) else."""
        async with self._settings_lock:  # between evaluations
            st, new = self.settings.current.strategy, settings.strategy
            feed = None
            if (st.ma_short, st.ma_long, st.deadband) != (new.ma_short, new.ma_long,
                                                          new.deadband):
                feed = await self._new_market(settings)
            try:
                await self.alerts.apply(settings.notify)  # a bad URL: ConfigError
            except BaseException:
                if feed is not None:
                    await feed.stop()
                raise
            self.settings.current = settings
            self.scheduler.reschedule(settings.schedule.interval_s)
            if feed is not None:
                old, self.market = self.market, feed
                await old.stop()

    async def record_reload(self, outcome: redis_reload.ReloadOutcome) -> None:
        """For ``rebalancer reload``: under this instance's lease owner token, standby too."""
        await redis_reload.write_record(self.store, redis_reload.ReloadRecord(
            self.lease.owner, socket.gethostname(), os.getpid(), outcome))

    async def _new_market(self, settings: Settings) -> MarketFeed:
        """New averages need a new window: a new feed from a fresh backfill, started while
        the old one runs on. RebalancerError when it cannot start (the old one stays)."""
        logger.info("reload: MA settings changed; building a new candle window")
        feed = MarketFeed(settings, self.rest, on_crossover=self.on_crossover,
                          supervisor=self.supervisor)
        try:
            await feed.start()
        except Exception as exc:
            await feed.stop()
            raise RebalancerError(f"the new candle window could not start ({exc}); the old "
                                  "averages stay") from exc
        return feed

    # -- health -----------------------------------------------------------------------------
    def health(self) -> str | None:
        """None while healthy (the systemd watchdog is fed), else why not."""
        streams = [self.market.stream, *(feed.stream for feed in self.user_feeds)]
        limit = evaluation_limit_s(self.settings.current.execution.order_timeout_s)
        return self.health_check.problem(streams, self.scheduler.running_s(), limit,
                                         extra=(self.market.deaf(),))

    # -- stopping ---------------------------------------------------------------------------
    async def stop(self) -> None:
        """No new decision from here; the order in flight is cancelled and verified
        (``on_shutdown: cancel``) or abandoned to the next start's reconciliation (``leave``);
        checkpoint; close."""
        self.lease.stop()
        settings = self.settings.current
        async with self.lease.kept_alive():
            if settings.execution.on_shutdown == "cancel":
                await self.executor.cancel_in_flight()
                await self.scheduler.stop()
            else:
                await self.scheduler.stop(abandon=True)
        written = False
        try:
            await self.store.heartbeat(settings.redis.heartbeat_ttl_s,
                                       self.checkpoint(stopped=True))
            logger.info("checkpoint written")
            written = True
        except (StoreUnavailable, RuntimeError):
            logger.error("checkpoint NOT written: Redis unavailable (state up to the last "
                         "recorded change is safe)")
        self.ops.stopped(written)
        await self.alerts.drain(min(ALERTS_DRAIN_S, settings.runtime.shutdown_grace_s / 4))
        await self.close()

    async def close(self) -> None:
        """Stop every task of the engine, close the streams, release the lease and close the
        connections, each step bounded: also what is left after a shutdown that overran its
        grace period. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.lease.stop()
        steps = [*([self.http.stop()] if self.http else []),
                 self.supervisor.cancel(*self._units), self.scheduler.stop(abandon=True),
                 *(feed.stop() for feed in self.user_feeds), self.market.stop(),
                 self.lease.release(), self.rest.close(), self.store.close(),
                 self.alerts.close()]
        for step in steps:
            try:
                await asyncio.wait_for(step, CLOSE_TIMEOUT_S)
            except Exception as exc:  # TimeoutError included: go on closing the rest
                logger.error("closing: a step failed ({!r}); going on", exc)

    # -- reporting --------------------------------------------------------------------------
    async def _day_figures(self, start_ms: int, end_ms: int
                           ) -> DayFigures | BasketDayFigures:
        """The daily summary's figures: value (last plan), PnL (books), fills in [start, end)."""
        price = self.market.last_price
        cost = self.ledger.cost
        fills = tuple(await self.store.get_fills(start_ms, end_ms))
        value = None if self.last_plan is None else self.last_plan.figures.total_value
        return DayFigures(value=value, realized_pnl=cost.realized_pnl,
                          unrealized_pnl=None if price is None else cost.unrealized(price),
                          fills=fills)

    def checkpoint(self, stopped: bool = False) -> dict[str, Any]:
        beat = snapshots.checkpoint(self.settings.current, wall_ms(), self.lease, self.market,
                                    self.ledger, self.executor, self.evaluations, stopped)
        beat["health"] = None if stopped else self.health()  # None: healthy, else why not
        return beat

    def status_line(self) -> str:
        line = snapshots.status_line(self.settings.current, self.lease, self.market,
                                     self.last_plan)
        problem = self.health()  # e.g. which stream is down and why
        return line if problem is None else f"{line}; UNHEALTHY: {problem}"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _no_decision(unsettled: list[Any]) -> str:
    if unsettled:
        names = ", ".join(f"{o.client_order_id} ({o.status.value})" for o in unsettled)
        return (f"no decision: order(s) {names} must be settled first; the daemon follows "
                "them and decides at its next evaluation")
    return "no decision: the daemon is stopping or lost its trading lease"
