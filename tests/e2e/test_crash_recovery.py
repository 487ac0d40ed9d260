"""The daemon, a real process, is SIGKILLed at many points of an order's life and restarted each
time: after the intent is written and before the request (a crash point in the daemon), after the
request and before the reply, during partial fills, and during the cancel (simulator hooks that
kill the daemon process while they hold the exchange's reply). Afterwards: no order was sent
twice, every fill is booked exactly once, and the state agrees with the exchange."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.adapters.redis_store import RedisStore
from daemon.sim import Hooks, RandomWalkMarket, Realism, SimConfig, Simulator
from tests.support.daemon_process import assert_orders_agree, start_daemon, wait_exit
from tests.support.e2e_harness import assert_books_match_exchange

KILL_KINDS = ("after_intent", "after_request", "during_fills", "during_cancel")
ROUNDS = 13  # 4 kinds x 13 = 52 kill points


def daemon_config(sim: Simulator, redis_url: str, kind: str, path: Path,
                  ratio: str = "0.5") -> Path:
    cfg: dict[str, Any] = {
        "mode": "live",
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "request_timeout_ms": 2000},
        "redis": {"url": redis_url, "lease_ttl_s": 2},
        "schedule": {"interval_s": 1},
        # Each episode moves the target ratio, so it trades at once.
        "strategy": {"name": "symmetric", "threshold": 0.001, "ratio": ratio},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 100000, "min_notional": 1,
                 "max_price_deviation_pct": 100, "stale_after_s": 60},
        "execution": {"order_timeout_s": 1, "poll_max_interval_s": 0.3,
                      "unknown_order_retries": 3, "not_found_grace_s": 1.2,
                      "order_type": "limit_maker" if kind == "during_cancel" else
                      "marketable_limit"},
        "health": {"heartbeat_interval_s": 0.5},
        "log": {"level": "INFO"},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


class Killer:
    """Arms one simulator hook (or the daemon's own crash point) and SIGKILLs the daemon."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = asyncio.Event()
        self.fills_seen = 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.killed.set()

    def arm(self, kind: str) -> None:
        self.killed.clear()
        self.fills_seen = 0
        hooks = Hooks()

        async def after_order(_order: dict[str, Any]) -> None:
            self.kill()

        async def on_fill(_trade: dict[str, Any]) -> None:
            self.fills_seen += 1
            if self.fills_seen == 2:  # in the middle of an order's partial fills
                self.kill()

        async def before_cancel(_params: dict[str, str]) -> None:
            self.kill()

        if kind == "after_request":
            hooks.after_order = after_order
        elif kind == "during_fills":
            hooks.on_fill = on_fill
        elif kind == "during_cancel":
            hooks.before_cancel = before_cancel
        self.sim.hooks = hooks


async def one_kill(sim: Simulator, killer: Killer, kind: str, cfg: Path, log: Path,
                   base_env: dict[str, str]) -> bool:
    env = dict(base_env)
    if kind == "after_intent":
        env["REBALANCER_CRASH_AT"] = "after_intent"
    killer.arm(kind)
    if kind == "during_cancel":
        sim.pause()  # a frozen market: the maker order rests until the timeout cancel
    proc = start_daemon(cfg, log, env)
    killer.proc = proc
    code = await wait_exit(proc, 25)
    sim.resume()
    if code is None:  # the kill point was not reached in time: stop it, report
        proc.kill()
        proc.wait()
        return False
    assert code == -signal.SIGKILL, f"daemon exited with {code}; see {log}"
    return True


async def final_run(cfg: Path, log: Path, env: dict[str, str], redis_url: str) -> None:
    """A clean run that reconciles everything, then a graceful stop."""
    proc = start_daemon(cfg, log, env)
    store = RedisStore(redis_url, "bot:QRLUSDT:")
    await store.connect()
    try:
        for _ in range(400):
            await asyncio.sleep(0.05)
            raw = await store.client.get(store.key("heartbeat"))
            if raw and b'"in_flight":null' in raw and b'"state":"trading"' in raw:
                break
        await asyncio.sleep(1.0)
    finally:
        await store.close()
    proc.send_signal(signal.SIGTERM)
    assert await wait_exit(proc, 20) == 0, f"graceful stop failed; see {log}"


@pytest.mark.timeout(300)  # 26 restarts each; about 40 s alone, more beside the other tests
@pytest.mark.parametrize("half", [0, 1])  # the 52 points in two runs that go side by side
async def test_sigkill_at_52_points_no_duplicates_fills_booked_once(
        redis_url: str, tmp_path: Path, half: int) -> None:
    # The exchange as MEXC is (distinct trade ids, minimal replies, -2013 after a create), with
    # a shorter -2013 window than the default so that the daemon's grace (below) stays short.
    realism = replace(Realism(), not_found_after_create_s=1.0)
    assert realism.trade_ids == "distinct" and realism.minimal_replies > 0
    cfg_sim = SimConfig(seed=5 + half, speed=600.0, balances={"QRL": "20000", "USDT": "1000"},
                        market=RandomWalkMarket(), partial_fill_ratio="0.35", realism=realism)
    async with Simulator(cfg_sim) as sim:
        env = dict(os.environ, MEXC_API_KEY=sim.api_key, MEXC_API_SECRET=sim.api_secret)
        env.pop("NOTIFY_SOCKET", None)
        log = tmp_path / "daemon.log"
        killer = Killer(sim)
        reached = Counter[str]()
        rounds = range(half, ROUNDS, 2)
        for n in rounds:
            for i, kind in enumerate(KILL_KINDS):
                ratio = "0.45" if (n * len(KILL_KINDS) + i) % 2 else "0.55"
                cfg = daemon_config(sim, redis_url, kind, tmp_path / f"{kind}.yaml", ratio)
                if await one_kill(sim, killer, kind, cfg, log, env):
                    reached[kind] += 1
        sim.hooks = Hooks()
        await final_run(daemon_config(sim, redis_url, "final", tmp_path / "final.yaml"), log,
                        env, redis_url)

        # (all 52 together: at least 50 reached, each kind at least 10 times)
        assert sum(reached.values()) >= len(rounds) * len(KILL_KINDS) - 1, (
            reached, log.read_text()[-3000:])
        assert all(reached[k] >= len(rounds) - 2 for k in KILL_KINDS), reached
        # No order sent twice; every fill booked exactly once, and only those.
        await assert_books_match_exchange(sim, redis_url)
        # The state agrees with the exchange, order by order.
        await assert_orders_agree(sim, redis_url)
