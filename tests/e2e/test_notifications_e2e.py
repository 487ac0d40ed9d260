"""Notifications from the running engine (simulator, real Redis) into a local HTTP receiver:
start, each finished order with its side, quantity and price, a halt after ``rebalancer halt``,
a drift alert, stop; a receiver that hangs never delays an evaluation, and a full queue drops
and counts; the secret in the URL never reaches the logs."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml
from loguru import logger
from prometheus_client import generate_latest

from daemon.cli import main
from daemon.config import Mode
from daemon.domain.money import floor_to
from daemon.sim import SimConfig, Simulator
from tests.support.daemon_process import (
    daemon_env,
    kill_left,
    live_config,
    start_daemon,
    wait_exit,
)
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for
from tests.support.notify_receiver import black_hole, receiver

UNBALANCED = {"QRL": "20000", "USDT": "200"}
SECRET = "hook-S3CRET-9f2e"
ORDER_BODY = re.compile(r"^(BUY|SELL) ([0-9.]+) of ([0-9.]+) QRL at avg ([0-9.]+) USDT "
                        r"\((\d+) fill\(s\), fees .*\); order (\S+)")


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


def exchange_order(sim: Simulator, coid: str) -> tuple[str, Decimal, Decimal]:
    """(side, filled quantity, average price) of one order, from the simulator's own trades."""
    order = next(o for o in sim.orders() if o["clientOrderId"] == coid)
    trades = [t for t in sim.my_trades("QRLUSDT") if str(t["orderId"]) == str(order["orderId"])]
    qty = sum((Decimal(t["qty"]) for t in trades), Decimal(0))
    quote = sum((Decimal(t["qty"]) * Decimal(t["price"]) for t in trades), Decimal(0))
    return str(order["side"]), qty, quote / qty if qty else Decimal(0)


async def test_engine_notifies_start_orders_halt_drift_and_stop(
        redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_HOOK_SECRET", SECRET)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    said: list[str] = []
    sink = logger.add(lambda m: said.append(str(m)), level="DEBUG")
    try:
        async with receiver() as rec, Simulator(
                SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
            notify = {"urls": [rec.url(path="hook/${NOTIFY_HOOK_SECRET}")],
                      "drift_alert": 0.001, "drift_alert_after_s": 0,
                      "daily_summary_utc": "00:00"}
            settings = e2e_settings(sim, redis_url, notify=notify)
            async with running_engine(settings, sim_creds(sim)) as engine:
                await wait_for(lambda: bool(rec.with_title("BUY") + rec.with_title("SELL")),
                               20, "an order-finished message")
                await wait_for(lambda: engine.executor.in_flight is None, 10, "order end")
                assert await cli("halt", "-c", str(cfg), "--reason", "maintenance") == 0
                await wait_for(lambda: bool(rec.with_title("trading halted")), 10,
                               "the halt message")
                assert await cli("resume", "-c", str(cfg)) == 0
                await wait_for(lambda: bool(rec.with_title("trading resumed")), 10,
                               "the resume message")
                alerts, precision = engine.alerts, engine.rules.quote_precision
                # the next UTC midnight: the summary of today, from the books in Redis
                midnight = (int(time.time()) // 86_400 + 1) * 86_400_000
                assert await engine.ops.check_summary(engine._day_figures, midnight + 5_000)
                assert not await engine.ops.check_summary(engine._day_figures, midnight + 6_000)
                await wait_for(lambda: bool(rec.with_title("daily summary")), 5, "summary")
                trades = sim.my_trades("QRLUSDT")
            await wait_for(lambda: bool(rec.with_title("rebalancer stopped")), 5, "stop")
            orders = rec.with_title("QRLUSDT SELL") + rec.with_title("QRLUSDT BUY")
            assert orders
            for message in orders:
                found = ORDER_BODY.match(message.message)
                assert found, message.message
                side, filled, avg, coid = (found.group(1), Decimal(found.group(2)),
                                           Decimal(found.group(4)), found.group(6))
                ex_side, ex_qty, ex_avg = exchange_order(sim, coid)
                assert (side, filled) == (ex_side, ex_qty)
                assert avg == floor_to(ex_avg, precision), (avg, ex_avg)
    finally:
        logger.remove(sink)
    titles = rec.titles()
    assert titles[0] == "rebalancer started (QRLUSDT)"
    assert rec.got[0].message.startswith("live: ")
    assert titles[-1] == "rebalancer stopped (QRLUSDT)"
    assert "QRLUSDT: drift alert" in titles
    drift = rec.with_title("drift alert")[0].message
    assert re.match(r"drift [+-]\d+\.\d\d pts has been beyond ±0\.10 pts", drift), drift
    assert "halted by the operator: maintenance" in rec.with_title("trading halted")[0].message
    assert titles.count("QRLUSDT: trading halted") == 1  # heartbeat and decisions: said once
    summary = rec.with_title("QRLUSDT daily summary")
    assert len(summary) == 1
    orders_n = len({t["orderId"] for t in trades})
    assert f"{orders_n} order(s), {len(trades)} fill(s)" in summary[0].message
    assert alerts.sent == len(rec.got) and alerts.failed == alerts.dropped == 0
    assert all(r.path == f"/hook/{SECRET}" for r in rec.got)
    text = "\n".join(said)
    assert "notifications to 1 URL(s)" in text
    assert SECRET not in text


async def test_a_hanging_receiver_never_delays_evaluations(redis_url: str) -> None:
    """Every send hangs (a port that never answers) while evaluations run: each evaluation
    takes what it takes without notifications, the queue stays bounded, drops are counted."""
    async with black_hole() as port, Simulator(
            SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        notify = {"urls": [f"json://127.0.0.1:{port}/hook"], "queue_max": 3, "retries": 0,
                  "send_timeout_s": 5, "drift_alert": 0.001, "drift_alert_after_s": 0}
        settings = e2e_settings(sim, redis_url, notify=notify,
                                schedule={"interval_s": 3600}).model_copy(
            update={"mode": Mode.DRY_RUN})
        async with running_engine(settings, sim_creds(sim)) as engine:
            for i in range(20):  # more than the queue holds, while the first send hangs
                engine.alerts.emit("order", f"flood {i}", "x")
            took = []
            for _ in range(10):
                started = time.perf_counter()
                await engine.evaluate("test")
                took.append(time.perf_counter() - started)
            assert engine.alerts.sent == 0  # the receiver never answered
            assert engine.alerts.dropped >= 16
            assert engine.alerts.queued <= 3
            scraped = generate_latest(engine.metrics.registry).decode()  # what /metrics says
            assert (f'rebalancer_notifications_total{{outcome="dropped"}} '
                    f'{float(engine.alerts.dropped)}') in scraped, scraped
            stopping = time.perf_counter()
        stop_s = time.perf_counter() - stopping
    assert max(took) < 1.0, took  # a send waits up to 5 s: no evaluation waited for one
    assert stop_s < settings.runtime.shutdown_grace_s, stop_s  # the drain is bounded too


async def test_daemon_process_notifies_and_reloads_urls_on_sighup(redis_url: str,
                                                                  tmp_path: Path) -> None:
    """``rebalancer run`` as a process: start to the first receiver; SIGHUP with a new URL;
    halt and stop to the second; the secret never in its output; a missing secret refuses to
    start (exit 2) naming it."""
    log = tmp_path / "daemon.log"
    proc = None
    async with receiver() as first, receiver() as second, Simulator(
            SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        env = {**daemon_env(sim), "HOOK_TOKEN": SECRET}
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml",
                          notify={"urls": [first.url(auth="bot:${HOOK_TOKEN}@")]})
        try:
            proc = start_daemon(cfg, log, env)
            await wait_for(lambda: bool(first.with_title("rebalancer started")), 30, "start")
            live_config(sim, redis_url, cfg, notify={"urls": [second.url(path="h/${HOOK_TOKEN}")],
                                                     "events": ["halted", "stopped"]})
            proc.send_signal(signal.SIGHUP)
            await wait_for(lambda: "reload applied: notify.events, notify.urls" in log.read_text(),
                           10, "the reload")
            assert await cli("halt", "-c", str(cfg), "--reason", "night") == 0
            await wait_for(lambda: bool(second.with_title("trading halted")), 10, "halt")
            proc.send_signal(signal.SIGTERM)
            assert await wait_exit(proc, 15) == 0, log.read_text()
        finally:
            kill_left(proc)
        assert second.titles() == ["QRLUSDT: trading halted", "rebalancer stopped (QRLUSDT)"]
        assert not first.with_title("trading halted")
        assert second.got[0].path == f"/h/{SECRET}"
        text = log.read_text()
        assert "notifications to 1 URL(s)" in text
        assert SECRET not in text
        missing = {k: v for k, v in env.items() if k != "HOOK_TOKEN"}
        done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "daemon", "run",
                                                        "-c", str(cfg)],
                                       env=missing, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert ("error: notify.urls[0]: ${HOOK_TOKEN} is neither set in the environment nor a "
            "file in $CREDENTIALS_DIRECTORY") in done.stderr


async def test_a_lost_lease_is_told_and_so_is_trading_again(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    """Another instance takes the lease for a while (written straight into Redis): trading
    stops and says why; when its TTL runs out this one takes the lease back, reconciles, and
    says it trades again."""
    async with receiver() as rec, Simulator(
            SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url, notify={"urls": [rec.url()]})
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: bool(rec.with_title("rebalancer started")), 10, "start")
            await wait_for(lambda: engine.executor.in_flight is None, 10, "no order in flight")
            await redis_client.set("bot:QRLUSDT:lease", "otherhost:1:feedbeef", px=2500)
            await wait_for(lambda: bool(rec.with_title("trading stopped")), 10, "the stop")
            await wait_for(lambda: bool(rec.with_title("trading again")), 15, "trading again")
    stop = rec.with_title("QRLUSDT: trading stopped")
    assert len(stop) == 1
    assert stop[0].message.startswith("trading lease lost ("), stop[0].message
    assert rec.with_title("QRLUSDT: trading again")[0].message == (
        "the books were reloaded and reconciled with the exchange")
