"""The daemon as a real process against an in-process simulator: its config, start, exit, and
a look at what it left in Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from daemon.adapters.redis_records import StoredState
from daemon.adapters.redis_store import RedisStore
from daemon.domain.orders import OrderState
from daemon.sim import Realism, Simulator
from tests.support.e2e_harness import wait_for

PREFIX = "bot:QRLUSDT:"
# MEXC's -2013 window after a create, shorter than its default so that the daemon's grace
# (1.2 s in live_config) stays short, as in the crash test
REALISM = replace(Realism(), not_found_after_create_s=1.0)


def live_config(sim: Simulator, redis_url: str, path: Path, **over: dict[str, Any]) -> Path:
    """A live config that trades often (every second, tiny threshold) with a 2 s lease."""
    cfg: dict[str, Any] = {
        "mode": "live",
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "request_timeout_ms": 2000},
        "redis": {"url": redis_url, "lease_ttl_s": 2},
        "schedule": {"interval_s": 1},
        "strategy": {"name": "symmetric", "threshold": 0.001, "ratio": "0.5"},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 100000, "min_notional": 1,
                 "max_price_deviation_pct": 100, "stale_after_s": 60},
        "execution": {"order_timeout_s": 1, "poll_max_interval_s": 0.3,
                      "unknown_order_retries": 3, "not_found_grace_s": 1.2,
                      "order_type": "marketable_limit"},
        "health": {"heartbeat_interval_s": 0.5},
        "log": {"level": "INFO"},
    }
    for section, values in over.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    path.write_text(yaml.safe_dump(cfg))
    return path


def daemon_env(sim: Simulator) -> dict[str, str]:
    env = dict(os.environ, MEXC_API_KEY=sim.api_key, MEXC_API_SECRET=sim.api_secret)
    env.pop("NOTIFY_SOCKET", None)
    return env


def start_daemon(cfg: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "daemon", "run", "-c", str(cfg)],
                                stdout=out, stderr=out, env=env)


async def wait_exit(proc: subprocess.Popen[bytes], limit_s: float) -> int | None:
    for _ in range(int(limit_s / 0.05)):
        if proc.poll() is not None:
            return proc.returncode
        await asyncio.sleep(0.05)
    return None


async def stored_state(redis_url: str, prefix: str = PREFIX) -> StoredState:
    """What Redis holds under ``prefix`` now, read as the daemon reads it."""
    store = RedisStore(redis_url, prefix)
    await store.connect()
    try:
        return await store.load_state()
    finally:
        await store.close()


async def assert_orders_agree(sim: Simulator, redis_url: str, prefix: str = PREFIX) -> None:
    """Every order in Redis has the exchange's status and executed quantity; every order the
    exchange has is in Redis; none is left open."""
    state = await stored_state(redis_url, prefix)
    venue = {o["clientOrderId"]: o for o in sim.orders()}
    assert state.open_order_ids == frozenset(), state.open_orders
    for coid, order in state.orders.items():
        v = venue.get(coid)
        if v is None:  # intent written, daemon killed before the request: never placed
            assert order.status in (OrderState.LOST, OrderState.REJECTED), (coid, order.status)
            assert order.filled_qty == 0
            continue
        assert order.status.value == v["status"], (coid, order.status, v["status"])
        assert order.filled_qty == Decimal(v["executedQty"]), coid
    assert set(venue) <= set(state.orders), set(venue) - set(state.orders)


def orders_with_fills(sim: Simulator) -> int:
    return sum(1 for o in sim.orders() if Decimal(o["executedQty"]) > 0)


async def settle(sim: Simulator) -> None:
    """A still market (the simulator paused): the daemon finishes its order and waits."""
    sim.pause()
    await wait_for(lambda: not any(o["status"] in ("NEW", "PARTIALLY_FILLED")
                                   for o in sim.orders()), 10, "the order to settle")
    await asyncio.sleep(1.0)


def kill_left(*procs: subprocess.Popen[bytes] | None) -> None:
    """What a failed test left running (resumed first, if it was paused)."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()


async def assert_counters_agree(sim: Simulator, redis_url: str, prefix: str = PREFIX) -> None:
    """One trade counted per order of ours with fills, none twice, none lost."""
    state = await stored_state(redis_url, prefix)
    assert state.counters.trades_total == orders_with_fills(sim), state.counters
