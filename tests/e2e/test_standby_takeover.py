"""Two daemon processes on one account and symbol, against the realistic simulator: the second
stands by, and when the first is SIGKILLed or paused (SIGSTOP) past its lease, it takes over on
the books as Redis holds them then (reloaded, not the ones it read at its own start). A paused
leader that resumes without the lease keeps its hands off the exchange. Afterwards the books
agree with the exchange: every fill once, the cost basis recomputed from them, the counters."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from daemon.sim import Hooks, RandomWalkMarket, SimConfig, Simulator
from tests.support.daemon_process import (
    REALISM,
    assert_counters_agree,
    assert_orders_agree,
    daemon_env,
    kill_left,
    live_config,
    orders_with_fills,
    settle,
    start_daemon,
    wait_exit,
)
from tests.support.e2e_harness import assert_books_match_exchange, wait_for

BALANCES = {"QRL": "20000", "USDT": "1000"}
def standby_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "holds the trading lease" in line]


async def test_standby_takes_over_after_sigkill_on_the_leaders_books(
        redis_url: str, tmp_path: Path) -> None:
    cfg_sim = SimConfig(seed=21, speed=600.0, balances=BALANCES, market=RandomWalkMarket(),
                        partial_fill_ratio="0.35", realism=REALISM)
    async with Simulator(cfg_sim) as sim:
        env = daemon_env(sim)
        cfg = live_config(sim, redis_url, tmp_path / "c.yaml")
        log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
        a = start_daemon(cfg, log_a, env)
        b = None
        try:
            await wait_for(lambda: orders_with_fills(sim) >= 2, 30, "the leader's first fills")
            await settle(sim)
            b = start_daemon(cfg, log_b, env)  # reads the books now, then stands by
            await wait_for(lambda: bool(standby_lines(log_b)), 20, "the second to stand by")
            sim.resume()
            seen = orders_with_fills(sim)
            # the leader books more while the standby waits: its books at start go stale
            await wait_for(lambda: orders_with_fills(sim) >= seen + 3, 30, "more fills")
            await settle(sim)  # no order of the leader's left for the takeover to ask about
            os.kill(a.pid, signal.SIGKILL)
            assert await wait_exit(a, 5) == -signal.SIGKILL
            sim.resume()
            at_kill = len(sim.order_requests)
            await wait_for(lambda: len(sim.order_requests) >= at_kill + 3, 40,
                           "the standby to take over and trade")
            b.send_signal(signal.SIGTERM)
            assert await wait_exit(b, 20) == 0, log_b.read_text()[-3000:]
        finally:
            kill_left(a, b)
        await assert_books_match_exchange(sim, redis_url)
        await assert_orders_agree(sim, redis_url)
        await assert_counters_agree(sim, redis_url)
        assert len(standby_lines(log_b)) == 1  # said once, not every heartbeat tick
        for log in (log_a, log_b):
            assert "died" not in log.read_text()  # no task lost on the way


async def test_a_paused_leader_that_lost_its_lease_keeps_off_the_exchange(
        redis_url: str, tmp_path: Path) -> None:
    cfg_sim = SimConfig(seed=22, speed=600.0, balances=BALANCES, market=RandomWalkMarket(),
                        realism=REALISM)
    async with Simulator(cfg_sim) as sim:
        env = daemon_env(sim)
        # a maker order in a frozen market rests until the follower cancels it at 3 s
        cfg = live_config(sim, redis_url, tmp_path / "c.yaml",
                          execution={"order_type": "limit_maker", "order_timeout_s": 3})
        log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
        stopped = asyncio.Event()
        a = start_daemon(cfg, log_a, env)
        b = None

        async def freeze_leader(_order: dict[str, Any]) -> None:
            if not stopped.is_set():  # the leader's order is placed: pause the leader
                sim.pause()  # and freeze the market: the maker order rests
                os.kill(a.pid, signal.SIGSTOP)
                stopped.set()

        try:
            await wait_for(lambda: "reconciled with the exchange: trading" in log_a.read_text(),
                           20, "the leader to trade")
            b = start_daemon(cfg, log_b, env)
            await wait_for(lambda: bool(standby_lines(log_b)), 20, "the second to stand by")
            sim.hooks = Hooks(after_order=freeze_leader)
            await asyncio.wait_for(stopped.wait(), 30)
            sim.hooks = Hooks()
            await wait_for(lambda: "trading lease acquired" in log_b.read_text(), 10,
                           "the standby to take over from the paused leader")
            await asyncio.sleep(1.5)  # paused for about 3.5 s in all, its timeout passed
            resumed_at = len(log_a.read_text())
            os.kill(a.pid, signal.SIGCONT)
            await wait_for(lambda: "lease" in log_a.read_text()[resumed_at:], 10,
                           "the resumed leader to notice")
            await asyncio.sleep(2.0)
            after = log_a.read_text()[resumed_at:]
            assert "cancelling the remainder" not in after, after
            assert "fill booked" not in after, after
            assert "died" not in after, after  # its streams go on, it only stands by
            sim.resume()
            await wait_for(lambda: not any(o["status"] in ("NEW", "PARTIALLY_FILLED")
                                           for o in sim.orders()), 20,
                           "the new leader to finish the order")
            for proc in (a, b):
                proc.send_signal(signal.SIGTERM)
            for proc, log in ((a, log_a), (b, log_b)):
                assert await wait_exit(proc, 20) == 0, log.read_text()[-3000:]
        finally:
            sim.resume()
            kill_left(a, b)
        await assert_books_match_exchange(sim, redis_url)
        await assert_orders_agree(sim, redis_url)
        await assert_counters_agree(sim, redis_url)
