"""The one orchestrator. Data flows one way:

    streams -> candle window / balances -> Snapshot -> planner -> Plan -> (live) executor
            -> exchange -> fills -> ledger (Redis, atomically) -> next Snapshot

It owns the adapters (REST, websockets, Redis), the trading lease, the scheduler and the
heartbeat. Startup: Redis state, exchange rules, market backfill and streams, lease, then
reconciliation with the exchange; only then does it decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from decimal import Decimal
from typing import Any

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisLease, RedisStore
from daemon.config import Credentials, Mode, Settings
from daemon.domain.candles import CrossoverEvent
from daemon.domain.client_ids import cycle_id_for
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Balance, ExchangeRules
from daemon.domain.orders import OrderState, OrderStatusReported
from daemon.domain.planner import Plan, Snapshot, evaluate
from daemon.errors import StoreUnavailable
from daemon.runtime.executor import Executor
from daemon.runtime.ledger import Ledger
from daemon.runtime.market_feed import MarketFeed, UserFeed
from daemon.runtime.recovery import reconcile_with_venue
from daemon.runtime.resolution import Found, Patience, resolve
from daemon.runtime.scheduler import EvaluationScheduler


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def holder_is_dead(owner: str) -> bool:
    """True when a lease owner token (``host:pid:random``) names a process of THIS host that no
    longer exists: a crashed predecessor, whose lease need not be waited out. A holder on
    another host is never judged dead (only its TTL can tell)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RebalancerEngine:
    def __init__(self, settings: Settings, creds: Credentials | None) -> None:
        self.settings = settings
        self.creds = creds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.store = RedisStore(settings.redis.url, settings.key_prefix,
                                plan_history_max=settings.redis.plan_history_max,
                                recent_orders_max=settings.redis.recent_orders_max)
        self.lease = RedisLease(self.store)
        self.rest = MexcRest(settings.exchange, creds)
        self.rules: ExchangeRules | None = None
        self.ledger: Ledger | None = None
        self.executor: Executor | None = None
        self.market: MarketFeed | None = None
        self.user: UserFeed | None = None
        self.scheduler = EvaluationScheduler(self.evaluate, settings.schedule.interval_s)
        self.lease_held = False
        self.ready = False  # lease held AND reconciled with the exchange: may decide
        self.stopping = False
        self._last_lost_check = 0.0
        self.last_plan: Plan | None = None
        self.evaluations = 0
        self._settings_lock = asyncio.Lock()

    @classmethod
    def create(cls, settings: Settings, creds: Credentials | None) -> RebalancerEngine:
        return cls(settings, creds)

    # -- startup ----------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self._close()  # nothing half-started keeps running
            raise

    async def _start(self) -> None:
        s = self.settings
        try:
            await self.store.connect()
        except StoreUnavailable:
            await self.store.wait_available(s.redis.retry_interval_s)
        await self.store.check_schema()
        state = await self.store.load_state()
        await self.rest.start()
        self.rules = await self.rest.exchange_rules(s.symbol)
        self.ledger = Ledger(self.store, s, self.rules, state, wall_ms, lease_owner=self.owner)
        self.executor = Executor(s, self.rest, self.ledger, wall_ms)
        self.market = MarketFeed(s, self.rest, on_crossover=self._on_crossover)
        await self.market.start()
        if self.creds is not None:
            self.user = UserFeed(s, self.rest, on_order=self.executor.on_report,
                                 on_fill=self.executor.on_fill)
            await self.user.start()
            self.ledger.update_balances(self.user.balances)
        else:
            logger.warning("no API keys: balances are unknown, plans will say so (dry_run)")
        await self._take_lease()
        self.scheduler.start()

    async def _take_lease(self) -> None:
        ttl = self.settings.redis.lease_ttl_s
        self.lease_held = await self.lease.acquire(self.owner, ttl)
        if not self.lease_held:
            holder = await self.lease.holder()
            if holder is not None and holder_is_dead(holder) \
                    and await self.lease.release(holder):
                logger.warning("lease holder {} is a dead process on this host; taking over",
                               holder)
                self.lease_held = await self.lease.acquire(self.owner, ttl)
        if not self.lease_held:
            logger.warning("standby: another instance ({}) holds the trading lease", holder)
            return
        logger.info("trading lease acquired ({})", self.owner)
        self.ready = False
        await self._recover()
        self.ready = True

    async def _recover(self) -> None:
        assert self.ledger is not None and self.executor is not None
        if self.creds is None:
            logger.info("no API keys: no orders to reconcile (nothing can have been placed)")
            return
        if self.ledger.cost.avg_cost is None and not self.ledger.cost.trade_ids:
            await self._init_cost_basis()
        await reconcile_with_venue(self.rest, self.ledger, self.settings, wall_ms())
        if self.ledger.unsettled():
            # Orders still open at the exchange: the evaluation path follows them (cancel at
            # the timeout) before it decides anything new; start it now.
            self.scheduler.trigger("recovery")

    async def _init_cost_basis(self) -> None:
        """First start: config initial_cost_basis, else the account's recent trades."""
        assert self.ledger is not None and self.rules is not None
        base = self.ledger.balances.get(self.rules.base_asset)
        held = base.total if base else Decimal(0)
        initial = self.settings.strategy.initial_cost_basis
        if initial is not None:
            cost = CostBasis.initial(initial, held)
            source = "config strategy.initial_cost_basis"
        elif self.creds is not None:
            fills = await self.rest.my_trades(self.settings.symbol, limit=100)
            cost = CostBasis().apply_all(fills, base_asset=self.rules.base_asset,
                                         quote_asset=self.rules.quote_asset)
            if cost.avg_cost is None:
                return
            source = f"{len(fills)} recent trade(s) on the exchange"
        else:
            return
        await self.ledger.set_cost_basis(cost)
        logger.info("cost basis initialised from {}: {}", source, cost.avg_cost)

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        interval = self.settings.health.heartbeat_interval_s
        while True:
            await self._tick()
            await asyncio.sleep(interval)

    async def _tick(self) -> None:
        """Lease, heartbeat, halt policy, LOST-order watch. Never raises: a failure here is
        logged and tried again at the next tick."""
        try:
            if self.lease_held:
                self.lease_held = await self.lease.renew(self.owner,
                                                         self.settings.redis.lease_ttl_s)
                if not self.lease_held:
                    self.ready = False
                    logger.error("trading lease lost (it expired, or another instance holds "
                                 "it); standby until it can be taken again")
            elif not self.stopping:
                await self._take_lease()
            await self.store.heartbeat(self.settings.redis.heartbeat_ttl_s, self.checkpoint())
            await self._halt_policy()
            await self._watch_lost()
        except StoreUnavailable:
            pass  # the store logs the outage once; trading waits for it
        except Exception:
            logger.exception("heartbeat tick failed; trying again at the next one")
        if self.user is not None and self.ledger is not None:
            self.ledger.update_balances(self.user.balances)

    async def _halt_policy(self) -> None:
        """A halt cancels the order in flight at once (``execution.on_halt: cancel``), not
        only at the next decision, which waits for that order."""
        ex = self.executor
        if ex is None or ex.in_flight is None or self.settings.execution.on_halt != "cancel":
            return
        if await self.store.get_halt() is not None:
            logger.warning("halted: cancelling the order in flight")
            await ex.cancel_in_flight()

    async def _watch_lost(self, every_s: float = 30.0) -> None:
        """LOST orders are asked about again now and then while watched: one that turns up
        becomes open again and is followed before the next decision."""
        if not self.ready or self.ledger is None or time.monotonic() - self._last_lost_check \
                < every_s:
            return
        self._last_lost_check = time.monotonic()
        now, watch_s = wall_ms(), self.settings.execution.lost_order_watch_s
        for order in [o for o in self.ledger.orders.values() if o.status is OrderState.LOST
                      and not o.lost_watch_over(now, watch_s)]:
            found = await resolve(self.rest, self.settings.symbol, order.client_order_id,
                                  Patience.once(self.settings.execution))
            if isinstance(found, Found):
                report = found.report
                logger.bind(client_order_id=order.client_order_id).warning(
                    "a LOST order turned up at the exchange ({}); following it",
                    report.status.value)
                await self.ledger.apply_to_known(order.client_order_id,
                                                 OrderStatusReported(report))
                self.scheduler.trigger("revived_order")

    async def _on_crossover(self, event: CrossoverEvent) -> None:
        logger.info("crossover into {} at candle {}: MA short {} long {}",
                    event.trend.value, event.open_time_ms, event.ma_short, event.ma_long)
        if self.settings.schedule.evaluate_on_crossover:
            self.scheduler.trigger("crossover")

    async def evaluate(self, trigger: str) -> None:
        """One evaluation (the scheduler runs one at a time): first follow any order of ours
        that is not settled, then decide, then (live) execute."""
        assert self.ledger is not None and self.executor is not None and self.rules
        if self.stopping or not self.ready:
            logger.info("{}: not deciding ({})", "stopping" if self.stopping else "standby",
                        trigger)
            return
        for order in self.ledger.unsettled():
            logger.bind(client_order_id=order.client_order_id).info(
                "order {} is {}: following it before any new decision", order.client_order_id,
                order.status.value)
            await self.executor.follow_existing(order)
        if self.ledger.unsettled() or self.stopping:
            return  # still blocked (logged by the executor); no new decision
        async with self._settings_lock:  # settings swap only between decisions
            decided = await self._decide(trigger)
        if decided is not None and decided[0].is_trade and self.settings.mode is Mode.LIVE:
            await self.executor.execute(decided[0], decided[1], self.rules)

    async def _decide(self, trigger: str) -> tuple[Plan, str] | None:
        assert self.ledger is not None
        now = wall_ms()
        cycle_id = cycle_id_for(now // 1000 * 1000)
        log = logger.bind(cycle_id=cycle_id)
        try:
            halt = await self.store.get_halt()
            await self.ledger.refresh_core_floor()
        except StoreUnavailable:
            log.warning("Redis unavailable: not deciding until it is back")
            return None
        if self.user is not None:
            self.ledger.update_balances(self.user.balances)
        plan = evaluate(self._snapshot(now, halt is not None), self.settings.strategy,
                        self.settings.risk)
        if plan.core_floor_init is not None:
            await self.ledger.set_core_floor(plan.core_floor_init, "init")
        live = self.settings.mode is Mode.LIVE
        record = {"cycle_id": cycle_id, "trigger": trigger, "time_ms": now,
                  "mode": self.settings.mode.value, "dry_run": not live, **plan.to_dict()}
        await self.store.record_plan(record)
        self.last_plan, self.evaluations = plan, self.evaluations + 1
        log.info("{} {} [{}] {}{}", plan.action, plan.quantity, plan.reason_code, plan.reason,
                 "" if live or not plan.is_trade else " (dry_run: not sent)")
        return plan, cycle_id

    def _snapshot(self, now: int, halted: bool) -> Snapshot:
        assert self.ledger is not None and self.market is not None and self.rules is not None
        window = self.market.window
        bal = self.ledger.balances
        zero = Balance("", Decimal(0), Decimal(0))
        return Snapshot(
            price=self.market.last_price, base=bal.get(self.rules.base_asset, zero),
            quote=bal.get(self.rules.quote_asset, zero), rules=self.rules,
            ma_short=window.ma_short, ma_long=window.ma_long, trend=window.trend,
            cost_basis=self.ledger.cost.avg_cost, core_floor=self.ledger.core_floor,
            trades_today=self.ledger.counters.trades_on(now),
            last_trade_ms=self.ledger.counters.last_trade_ms, now_ms=now,
            last_price_ms=self.market.last_price_ms, halted=halted)

    async def apply_settings(self, settings: Settings) -> None:
        async with self._settings_lock:  # between evaluations
            old = self.settings
            self.settings = settings
            for part in (self.ledger, self.executor):
                if part is not None:
                    part.settings = settings
            self.scheduler.reschedule(settings.schedule.interval_s)
            st, new = old.strategy, settings.strategy
            if self.market is not None and (st.ma_short, st.ma_long, st.deadband) != (
                    new.ma_short, new.ma_long, new.deadband):
                await self._rebuild_market(settings)

    async def _rebuild_market(self, settings: Settings) -> None:
        """New averages need a new window: a new feed from a fresh backfill, started before
        the old one stops; if it cannot start, the old one keeps running."""
        logger.info("reload: MA settings changed; rebuilding the candle window")
        feed = MarketFeed(settings, self.rest, on_crossover=self._on_crossover)
        try:
            await feed.start()
        except Exception:
            logger.exception("reload: the new candle window could not start; keeping the "
                             "old averages until a restart")
            await feed.stop()
            return
        old, self.market = self.market, feed
        if old is not None:
            await old.stop()

    # -- stopping ---------------------------------------------------------------------------
    async def stop(self) -> None:
        """No new decision from here; the order in flight is cancelled and verified
        (``on_shutdown: cancel``) or abandoned to the next start's reconciliation (``leave``);
        checkpoint; close."""
        self.stopping = True
        if self.executor is not None and self.settings.execution.on_shutdown == "cancel":
            self.executor.stopping = True
            await self.executor.cancel_in_flight()
            await self.scheduler.stop()
        else:
            await self.scheduler.stop(abandon=True)
        try:
            await self.store.heartbeat(self.settings.redis.heartbeat_ttl_s,
                                       self.checkpoint(stopped=True))
            logger.info("checkpoint written")
        except (StoreUnavailable, RuntimeError):
            logger.error("checkpoint NOT written: Redis unavailable (state up to the last "
                         "recorded change is safe)")
        await self._close()

    async def _close(self) -> None:
        for feed in (self.user, self.market):
            if feed is not None:
                await feed.stop()
        if self.lease_held:
            with contextlib.suppress(StoreUnavailable):
                await self.lease.release(self.owner)
            self.lease_held = False
        await self.rest.close()
        await self.store.close()

    # -- reporting --------------------------------------------------------------------------
    def checkpoint(self, stopped: bool = False) -> dict[str, Any]:
        window = self.market.window if self.market else None
        price = self.market.last_price if self.market else None
        return {
            "time_ms": wall_ms(), "owner": self.owner, "state": "stopped" if stopped else
            ("trading" if self.lease_held else "standby"), "mode": self.settings.mode.value,
            "symbol": self.settings.symbol, "price": None if price is None else str(price),
            "ma_short": _s(window.ma_short if window else None),
            "ma_long": _s(window.ma_long if window else None),
            "trend": window.trend.value if window and window.trend else None,
            "candles": len(window) if window else 0, "evaluations": self.evaluations,
            "in_flight": self.executor.in_flight.client_order_id
            if self.executor and self.executor.in_flight else None,
            "books": self.ledger.summary(price) if self.ledger else None,
        }

    def status_line(self) -> str:
        window = self.market.window if self.market else None
        plan = self.last_plan
        return (f"{self.settings.symbol} {self.settings.mode.value} "
                f"{'trading' if self.lease_held else 'standby'} "
                f"price={self.market.last_price if self.market else None} "
                f"trend={window.trend.value if window and window.trend else 'n/a'} "
                f"last={plan.action + ':' + plan.reason_code if plan else 'none'}")


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
