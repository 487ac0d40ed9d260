"""``rebalancer plan -c basket.yaml`` without ``--snapshot``: the basket's decision inputs the
running daemon's heartbeat records (``portfolio`` -> ``snapshot``), every leg printed as
``plan --snapshot`` prints it. The daemon runs in dry_run against the simulator serving QRLUSDT
and BTCUSDT (real HTTP/websockets, real Redis), so the basket stays as it started: the plan is
STRATEGY.md's P1 (SELL 2500 QRL, then BUY 0.00375 BTC once the sell is final)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
import yaml

from daemon.config import Mode
from daemon.runtime.portfolio_engine import PortfolioEngine
from daemon.sim import Simulator
from tests.e2e.test_portfolio_e2e import portfolio_settings, vector_sim
from tests.support.e2e_harness import running_engine, sim_creds, wait_for

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"QRL": "0.25", "BTC": "0.25"}
BEAT = "bot:USDT-BTC-QRL:heartbeat"
PROVENANCE = re.compile(
    rf"snapshot: the daemon's decision inputs from {BEAT}, written [0-9.]+ s ago "
    r"\(.+; daemon (\w+)\), evaluated as of then with this config's strategy and risk "
    r"settings; halted now: (yes|no)\n")


async def rebalancer(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "daemon", *args], capture_output=True,
        text=True, cwd=REPO, timeout=90, check=False, input=stdin)


def legs(out: str) -> list[tuple[str, str, str, str, bool]]:
    return [(leg["asset"], leg["plan"]["action"], leg["plan"]["quantity"],
             leg["plan"]["reason_code"], leg["pending"]) for leg in json.loads(out)["legs"]]


def basket_config(tmp_path: Path, redis_url: str, targets: dict[str, str],
                  name: str = "basket.yaml") -> str:
    cfg = tmp_path / name
    cfg.write_text(yaml.safe_dump({
        "redis": {"url": redis_url},
        "strategy": {"name": "symmetric", "threshold": 0.01},
        "risk": {"min_notional": 5},
        "portfolio": {"quote": "USDT", "targets": targets}}, sort_keys=False))
    return str(cfg)


async def test_plan_evaluates_the_baskets_live_inputs(redis_url: str,
                                                      redis_client: aioredis.Redis,
                                                      tmp_path: Path) -> None:
    cfg = basket_config(tmp_path, redis_url, TARGETS)
    async with Simulator(vector_sim("0", {"QRL": "10000", "BTC": "0",
                                          "USDT": "1000"})) as sim:
        settings = portfolio_settings(sim, redis_url, TARGETS).model_copy(
            update={"mode": Mode.DRY_RUN})
        async with running_engine(settings, sim_creds(sim)) as engine:
            assert isinstance(engine, PortfolioEngine)
            await wait_for(lambda: engine.evaluations >= 1, 30, "a first evaluation")
            await engine.heartbeat.tick()  # a heartbeat with the prices of both pairs
            live = await rebalancer("plan", "-c", cfg)
            assert live.returncode == 0, live.stderr
            found = PROVENANCE.fullmatch(live.stderr)
            assert found is not None, live.stderr
            assert found.groups() == ("trading", "no")
    assert sim.order_requests == []  # dry_run: nothing sent
    doc = json.loads(live.stdout)
    assert (doc["quote_total"], doc["drift"]) == ("1000", "0.25")
    assert Decimal(doc["total_value"]) == Decimal("1500")
    assert legs(live.stdout) == [("QRL", "SELL", "2500", "rebalance_sell", False),
                                 ("BTC", "BUY", "0.00375", "rebalance_buy", True)]
    last: dict[str, Any] = orjson.loads(await redis_client.get(BEAT))
    inputs = last["portfolio"]["snapshot"]
    assert sorted(inputs["assets"]) == ["BTC", "QRL"] and inputs["now_ms"] == last["time_ms"]
    assert inputs["assets"]["BTC"]["rules"]["base_precision"] == 6
    # the same inputs given as a file give the same plan
    fed = await rebalancer("plan", "-c", cfg, "--snapshot", "-",
                           stdin=json.dumps({**inputs, "halted": False}))
    assert fed.returncode == 0, fed.stderr
    stopped = await rebalancer("plan", "-c", cfg)  # the last checkpoint of a stopped daemon
    assert stopped.returncode == 0, stopped.stderr
    found = PROVENANCE.fullmatch(stopped.stderr)
    assert found is not None and found.groups() == ("stopped", "no"), stopped.stderr
    assert json.loads(fed.stdout) == json.loads(stopped.stdout)
    assert legs(stopped.stdout) == legs(live.stdout)

    other = await rebalancer("plan", "-c", basket_config(
        tmp_path, redis_url, {"QRL": "0.25", "BTC": "0.25", "ETH": "0.25"}, "eth.yaml"))
    # another basket keeps its process keys under another prefix: no daemon there
    assert (other.returncode, other.stdout) == (2, "")
    assert other.stderr.startswith("error: no live state: bot:USDT-BTC-ETH-QRL:heartbeat is "
                                   "absent (no daemon is running under "
                                   "'bot:USDT-BTC-ETH-QRL:'"), other.stderr
    old = {k: v for k, v in last.items() if k != "portfolio"}
    await redis_client.set(BEAT, orjson.dumps(old))  # an earlier release's beat
    done = await rebalancer("plan", "-c", cfg)
    assert (done.returncode, done.stdout) == (2, "")
    assert f"{BEAT} holds no decision inputs of a portfolio (written by a daemon of an " \
        "earlier release" in done.stderr
