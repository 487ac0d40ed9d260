"""What the watch unit notices on its own: a Redis outage that lasts (said once, and its end),
and the daily summary time (not for a time already past when the daemon starts)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal

from daemon.adapters.redis_store import RedisStore
from daemon.config import NotifySettings, parse_settings
from daemon.domain.alert_rules import DayFigures
from daemon.errors import StoreUnavailable
from daemon.runtime.alert_watch import OpsAlerts
from daemon.runtime.alerts import Alerts
from daemon.runtime.settings_ref import SettingsRef
from tests.support.domain_builders import rules
from tests.support.notify_receiver import receiver

DAY_MS = 86_400_000


async def test_a_lasting_redis_outage_is_said_once_and_its_end_too() -> None:
    async with receiver() as rec:
        settings = parse_settings({"notify": {"redis_outage_alert_s": 30}})
        alerts = Alerts(NotifySettings(urls=(rec.url(),)), env={})
        await alerts.open()
        store = RedisStore("redis://127.0.0.1:1/0", "t:")  # nothing listens there
        with contextlib.suppress(StoreUnavailable):
            await store.connect()
        assert not store.available
        ops = OpsAlerts(SettingsRef(settings), alerts, rules(), store, lambda: 0)
        for now in (100.0, 110.0, 129.0):
            ops.check_outage(now)
        assert alerts.queued == 0  # 29 s: not yet
        ops.check_outage(130.0)
        ops.check_outage(200.0)
        assert alerts.queued == 1
        store._available = True  # Redis answers again (as its next call would mark it)
        ops.check_outage(205.0)
        sender = asyncio.create_task(alerts.run())
        await alerts.drain(5)
        sender.cancel()
        await store.close()
    assert [(r.title, r.message) for r in rec.got] == [
        ("QRLUSDT: trading stopped",
         "Redis unreachable for 30s: no decision, no order until it is back"),
        ("QRLUSDT: Redis reachable again", "after 105s; trading may resume")]


async def test_daily_summary_once_a_day_and_not_for_a_time_past_at_start(
        store: RedisStore) -> None:
    settings = parse_settings({"notify": {"daily_summary_utc": "00:00"}})
    alerts = Alerts(NotifySettings(urls=("json://127.0.0.1:9/unused",)), env={})
    await alerts.open()
    asked: list[tuple[int, int]] = []

    async def figures(start_ms: int, end_ms: int) -> DayFigures:
        asked.append((start_ms, end_ms))
        return DayFigures(Decimal(100), Decimal(0), Decimal(1), ())

    clock = [int(time.time() * 1000)]
    ops = OpsAlerts(SettingsRef(settings), alerts, rules(), store, lambda: clock[0])
    watch = asyncio.create_task(ops.watch(figures))
    await asyncio.sleep(0.2)
    assert asked == []  # 00:00 today is past: no summary at start
    midnight = (clock[0] // DAY_MS + 1) * DAY_MS
    assert await ops.check_summary(figures, midnight + 61_500)
    assert not await ops.check_summary(figures, midnight + 3_600_000)  # once a day
    assert await ops.check_summary(figures, midnight + DAY_MS)
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    assert asked == [(midnight + 60_000 - DAY_MS, midnight + 60_000),
                     (midnight, midnight + DAY_MS)]
    assert alerts.queued == 2
