"""Issue 18 (review finding), real daemon processes against the simulator serving QRL, BTC and
ETH: a pair's books are fenced across processes. A basket holding QRL stands by (never trades)
while a single-pair QRL daemon runs, and two baskets sharing BTC do not both trade: the second
waits. Each takes over once the other stops (its lease released on every key)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from daemon.sim import Simulator
from daemon.sim.symbols import basket_config
from tests.support.daemon_process import (
    REALISM,
    daemon_env,
    kill_left,
    live_config,
    start_daemon,
    wait_exit,
)
from tests.support.e2e_harness import wait_for


def basket_cfg(sim: Simulator, redis_url: str, path: Path, targets: dict[str, str]) -> Path:
    live_config(sim, redis_url, path)
    cfg: dict[str, Any] = yaml.safe_load(path.read_text())
    del cfg["strategy"]["ratio"]
    cfg["portfolio"] = {"quote": "USDT", "targets": dict(targets)}
    path.write_text(yaml.safe_dump(cfg))
    return path


def symbols_sent(sim: Simulator) -> set[str]:
    return {a.params["symbol"] for a in sim.order_requests}


def standing_by(log: Path) -> bool:
    return "holds the trading lease" in log.read_text()


def trading(log: Path) -> bool:
    return "reconciled with the exchange: trading" in log.read_text()


async def lease_keys(redis_url: str) -> dict[str, str]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        return {k: await client.get(k) for k in await client.keys("bot:*lease")}
    finally:
        await client.aclose()


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert await wait_exit(proc, 20) == 0, tail(log)


async def hold_then_hand_over(sim: Simulator, redis_url: str, first: tuple[Path, Path],
                              second: tuple[Path, Path], only_first: str) -> None:
    """``first`` trades; ``second`` (sharing a pair with it) stands by and sends nothing on
    ``only_first`` (a pair only it would trade) until ``first`` stops, then takes over."""
    env = daemon_env(sim)
    a = start_daemon(first[0], first[1], env)
    b = None
    try:
        await wait_for(lambda: trading(first[1]), 30, "the first to trade")
        b = start_daemon(second[0], second[1], env)
        await wait_for(lambda: standing_by(second[1]), 30, "the second to stand by")
        await asyncio.sleep(3)  # a few evaluations of the first (each a second apart)
        assert only_first not in symbols_sent(sim)
        assert "trading lease acquired" not in second[1].read_text()
        assert not trading(second[1])
        await stop(a, first[1])
        await wait_for(lambda: trading(second[1]), 30, "the second to take over")
        await stop(b, second[1])
    finally:
        kill_left(a, b)
    assert await lease_keys(redis_url) == {}  # every key released


async def test_a_basket_stands_by_while_a_single_pair_daemon_trades_its_pair(
        redis_url: str, tmp_path: Path) -> None:
    async with Simulator(basket_config(seed=31, speed=600.0, realism=REALISM)) as sim:
        single = live_config(sim, redis_url, tmp_path / "single.yaml")
        basket = basket_cfg(sim, redis_url, tmp_path / "basket.yaml",
                            {"QRL": "0.3", "BTC": "0.3"})
        await hold_then_hand_over(sim, redis_url, (single, tmp_path / "single.log"),
                                  (basket, tmp_path / "basket.log"), "BTCUSDT")


async def test_two_baskets_sharing_btc_the_second_waits(redis_url: str, tmp_path: Path) -> None:
    async with Simulator(basket_config(seed=32, speed=600.0, realism=REALISM)) as sim:
        a = basket_cfg(sim, redis_url, tmp_path / "a.yaml", {"QRL": "0.3", "BTC": "0.3"})
        b = basket_cfg(sim, redis_url, tmp_path / "b.yaml", {"ETH": "0.3", "BTC": "0.3"})
        await hold_then_hand_over(sim, redis_url, (a, tmp_path / "a.log"),
                                  (b, tmp_path / "b.log"), "ETHUSDT")
