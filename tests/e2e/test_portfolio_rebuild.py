"""``rebalancer state rebuild -c basket.yaml`` when Redis lost a basket's books: every pair's
books are rebuilt from the exchange under the pair's own prefix (``bot:QRLUSDT:``,
``bot:BTCUSDT:``), the same fills and cost basis the daemon booked; a pair that still holds
books is never overwritten and the refusal names ``--asset`` for the others; ``--asset``
rebuilds one pair only. The daemon trades P1 (SELL QRL, then BUY BTC) against the simulator
first, so each pair has one fill of ours on the exchange."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from daemon.sim import Simulator
from tests.e2e.test_portfolio_e2e import portfolio_settings, run_one_rebalance, vector_sim
from tests.support.e2e_harness import stored_fills

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"QRL": "0.25", "BTC": "0.25"}
PAIRS = ("bot:QRLUSDT:", "bot:BTCUSDT:")


async def rebalancer(sim: Simulator, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEXC_API_KEY": sim.api_key, "MEXC_API_SECRET": sim.api_secret,
           "NO_COLOR": "1"}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "daemon", *args], capture_output=True,
        text=True, cwd=REPO, timeout=120, check=False, env=env)


async def kept(redis_url: str) -> dict[str, Any]:
    out = {}
    for prefix in PAIRS:
        fills, cost = await stored_fills(redis_url, prefix)
        out[prefix] = ({(f.trade_id, f.side, f.price, f.qty, f.fee) for f in fills},
                       None if cost is None else (cost["avg_cost"], cost["qty"]))
    return out


async def wipe(client: aioredis.Redis, prefix: str) -> None:
    await client.delete(*await client.keys(prefix + "*"))


async def test_rebuild_every_pair_of_a_basket_under_its_own_prefix(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    sim_config = replace(vector_sim("0", {"QRL": "10000", "BTC": "0", "USDT": "1000"}),
                         weight_per_10s=None)  # a rebuild reads 30+ windows per pair
    async with Simulator(sim_config) as sim:
        settings = portfolio_settings(sim, redis_url, TARGETS)
        await run_one_rebalance(sim, settings, 2)
        before = await kept(redis_url)
        assert all(len(fills) == 1 for fills, _ in before.values()), before
        assert before["bot:BTCUSDT:"][1] is not None
        cfg = tmp_path / "basket.yaml"
        cfg.write_text(yaml.safe_dump({
            "mode": "live", "redis": {"url": redis_url},
            "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                         "request_timeout_ms": 8000},
            "strategy": {"name": "symmetric", "threshold": 0.01},
            "portfolio": {"quote": "USDT", "targets": TARGETS}}, sort_keys=False))

        await wipe(redis_client, "bot:BTCUSDT:")  # BTC's books lost, QRL's kept
        refused = await rebalancer(sim, "state", "rebuild", "-c", str(cfg))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "'bot:QRLUSDT:' is not empty" in refused.stderr
        assert "nothing written for any pair; to rebuild only the pairs without books, give " \
            "--asset BTC" in refused.stderr
        assert await redis_client.keys("bot:BTCUSDT:*") == []
        one = await rebalancer(sim, "state", "rebuild", "-c", str(cfg), "--asset", "btc")
        assert one.returncode == 0, one.stdout + one.stderr
        assert one.stdout.startswith("rebuilt BTCUSDT under 'bot:BTCUSDT:' from the exchange")
        assert "QRLUSDT" not in one.stdout and one.stdout.endswith(
            "written to 'bot:BTCUSDT:'\n")
        assert await kept(redis_url) == before

        for prefix in PAIRS:  # Redis lost every pair's books
            await wipe(redis_client, prefix)
        done = await rebalancer(sim, "state", "rebuild", "-c", str(cfg))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("rebuilt QRLUSDT under 'bot:QRLUSDT:' from the exchange")
        assert "\nrebuilt BTCUSDT under 'bot:BTCUSDT:' from the exchange" in done.stdout
        assert "written to 'bot:QRLUSDT:'\n" in done.stdout
        assert done.stdout.endswith("written to 'bot:BTCUSDT:'\n")
        assert await kept(redis_url) == before  # the same fills, the same cost basis
        assert await redis_client.keys("bot:USDT-BTC-QRL:schema") == []  # not the process's
