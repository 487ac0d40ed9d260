"""The daemon's side of notifications: the engine, the executor, the lease and the heartbeat
report what happens here (plain calls that never wait), and a watch unit under the
supervisor looks every second at what nobody reports (a Redis outage that lasts, the daily
summary time). The texts and the rules of when to speak are pure (``domain.alert_rules``);
the sending is ``runtime.alerts``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

from loguru import logger

from daemon.adapters.redis_records import Halt
from daemon.adapters.redis_store import RedisStore
from daemon.domain.alert_rules import (
    BasketDayFigures,
    DayFigures,
    DriftWatch,
    HaltWatch,
    basket_summary_text,
    day_window,
    drift_text,
    minute_floor_ms,
    order_text,
    summary_due,
    summary_text,
)
from daemon.domain.models import ExchangeRules
from daemon.domain.orders import Order
from daemon.domain.planner import Plan
from daemon.errors import StoreUnavailable
from daemon.runtime.alerts import Alerts
from daemon.runtime.settings_ref import SettingsRef

WATCH_EVERY_S = 1.0
# [start, end) ms -> the figures of a pair or of a basket
DayFiguresFor = Callable[[int, int], Awaitable[DayFigures | BasketDayFigures]]


class OpsAlerts:
    def __init__(self, settings: SettingsRef, alerts: Alerts, rules: ExchangeRules,
                 store: RedisStore, wall_ms: Callable[[], int]) -> None:
        self._settings = settings
        self.alerts = alerts
        self._rules = rules
        self._store = store
        self._wall_ms = wall_ms
        self._drift = DriftWatch()
        self._halt = HaltWatch()
        self._outage_since: float | None = None
        self._outage_said = False
        self._summary_day: str | None = None
        self._stopped = False  # trading stopped on its own (said): its return is said too

    @property
    def _symbol(self) -> str:
        return self._rules.symbol

    # -- reported by the daemon's parts ---------------------------------------------------
    def started(self, status_line: str) -> None:
        s = self._settings.current
        self.alerts.emit("started", f"rebalancer started ({self._symbol})",
                         f"{s.mode.value}: {status_line}")

    def stopped(self, checkpoint_written: bool) -> None:
        self.alerts.emit("stopped", f"rebalancer stopped ({self._symbol})",
                         "checkpoint written" if checkpoint_written else
                         "checkpoint NOT written (Redis unavailable; the state up to the last "
                         "recorded change is safe)")

    def order_finished(self, order: Order) -> None:
        if order.status.terminal:
            title, body = order_text(order, self._rules)
            self.alerts.emit("order", title, body)

    def trading_stopped(self, reason: str) -> None:
        self._stopped = True
        self.alerts.emit("trading_stopped", f"{self._symbol}: trading stopped", reason)

    def trading_again(self) -> None:
        """Reconciled with the exchange after a stop said above: trading again."""
        if self._stopped:
            self._stopped = False
            self.alerts.emit("trading_stopped", f"{self._symbol}: trading again",
                             "the books were reloaded and reconciled with the exchange")

    def halt_seen(self, halt: Halt | None) -> None:
        change = self._halt.observe(halt is not None)
        if change == "halted" and halt is not None:
            self.alerts.emit("halted", f"{self._symbol}: trading halted",
                             f"halted by the operator: {halt.reason}")
        elif change == "resumed":
            self.alerts.emit("resumed", f"{self._symbol}: trading resumed",
                             "the halt flag was cleared")

    def plan_decided(self, plan: Plan, now_ms: int) -> None:
        self.drift_decided(plan.figures.drift, now_ms)

    def drift_decided(self, drift: Decimal | None, now_ms: int, name: str | None = None
                      ) -> None:
        """The drift of an evaluation (a basket's: its largest, titled with ``name``)."""
        n = self._settings.current.notify
        since = self._drift.over_since_ms
        change = self._drift.observe(drift, now_ms, n.drift_alert, n.drift_alert_after_s)
        if change is None or drift is None:
            return
        over_for_s = 0.0 if since is None else (now_ms - since) / 1000
        title, body = drift_text(change, drift, n.drift_alert, over_for_s)
        self.alerts.emit("drift", f"{name or self._symbol}: {title}", body)

    # -- watched --------------------------------------------------------------------------
    async def watch(self, figures: DayFiguresFor) -> None:
        """Every second: a Redis outage past ``notify.redis_outage_alert_s``, and the daily
        summary at ``notify.daily_summary_utc`` (not for a time already past at start)."""
        hhmm = self._settings.current.notify.daily_summary_utc
        if hhmm is not None:
            self._summary_day = summary_due(hhmm, self._wall_ms(), None)
        while True:
            self.check_outage(time.monotonic())
            await self.check_summary(figures, self._wall_ms())
            await asyncio.sleep(WATCH_EVERY_S)

    def check_outage(self, now: float) -> None:
        if self._store.available:
            if self._outage_said:
                self.alerts.emit("trading_stopped", f"{self._symbol}: Redis reachable again",
                                 f"after {now - (self._outage_since or now):.0f}s; trading "
                                 "may resume")
            self._outage_since, self._outage_said = None, False
            return
        if self._outage_since is None:
            self._outage_since = now
        limit = self._settings.current.notify.redis_outage_alert_s
        if not self._outage_said and now - self._outage_since >= limit:
            self._outage_said = True
            self.trading_stopped(f"Redis unreachable for {now - self._outage_since:.0f}s: "
                                 "no decision, no order until it is back")

    async def check_summary(self, figures: DayFiguresFor, now_ms: int) -> bool:
        """Send the daily summary when due; True when it was queued."""
        hhmm = self._settings.current.notify.daily_summary_utc
        if hhmm is None or not self.alerts.wants("daily_summary"):
            return False
        day = summary_due(hhmm, now_ms, self._summary_day)
        if day is None:
            return False
        end = minute_floor_ms(now_ms)
        try:
            figs = await figures(*day_window(end))
        except StoreUnavailable:
            return False  # tried again next second; the outage is said on its own
        self._summary_day = day
        title, body = (basket_summary_text(figs, end) if isinstance(figs, BasketDayFigures)
                       else summary_text(figs, self._rules, end))
        self.alerts.emit("daily_summary", title, body)
        logger.info("daily summary queued: {}", body)
        return True
