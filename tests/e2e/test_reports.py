"""status, history and pnl through the real CLI, on the Redis a real run filled (the engine
against the simulator): status shows the balances the daemon decides on (the simulator's after
a trade), halted as halted, and exits 0/1/2; history lists the orders and fills the simulator
has; pnl's realized total is the ledger's."""

from __future__ import annotations

import asyncio
import json
import shlex
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.cli import main
from daemon.domain.cost_basis import CostBasis
from daemon.sim import SimConfig, Simulator
from daemon.sim.market import RandomWalkMarket
from tests.support.e2e_harness import (
    e2e_settings,
    running_engine,
    sim_creds,
    stored_fills,
    wait_for,
)

UNBALANCED = {"QRL": "20000", "USDT": "200"}
QUOTE_HEAVY = {"QRL": "2000", "USDT": "1000"}


async def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


async def cli_text(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    return code, capsys.readouterr().out


def cli_config(tmp_path: Path, redis_url: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    return str(path)


def sim_balances(sim: Simulator) -> dict[str, dict[str, Decimal]]:
    return {a: {"free": f, "locked": lk} for a, (f, lk) in sim.balances().items()}


def as_decimals(b: dict[str, dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    return {a: {k: Decimal(v) for k, v in x.items()} for a, x in b.items()}


async def halt_and_settle(capsys: pytest.CaptureFixture[str], cfg: str, engine: Any,
                          sim: Simulator) -> dict[str, dict[str, Decimal]]:
    """Halt through the CLI, wait for the HOLD, no order in flight and the account push of the
    last trade, then two heartbeats (0.5 s) with those balances; the simulator's balances."""
    assert (await cli_text(capsys, "halt", "-c", cfg))[0] == 0
    await wait_for(lambda: engine.last_plan is not None
                   and engine.last_plan.reason_code == "halted"
                   and engine.executor.in_flight is None, 10, "a halted HOLD")
    want = sim_balances(sim)
    await wait_for(lambda: {a: {"free": b.free, "locked": b.locked} for a, b in
                            engine.ledger.balances.items()} == want, 5, "the account push")
    await asyncio.sleep(1.2)
    return want


async def test_status_history_pnl_after_a_real_run(redis_url: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cli_config(tmp_path, redis_url)
    market = RandomWalkMarket(volatility_per_min=0.01)  # 1% a second: trades both ways
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=QUOTE_HEAVY,
                                   market=market)) as sim:
        settings = e2e_settings(sim, redis_url)
        async with running_engine(settings, sim_creds(sim)) as engine:
            # a BUY sets the cost basis, a SELL after it realizes PnL
            await wait_for(lambda: [t["isBuyer"] for t in sim.my_trades("QRLUSDT")][:1] == [True]
                           and any(not t["isBuyer"] for t in sim.my_trades("QRLUSDT")), 20,
                           "a buy, then a sell")
            want = await halt_and_settle(capsys, cfg, engine, sim)
            code, halted = await cli_json(capsys, "status", "-c", cfg)
            assert code == 1 and halted["state"] == "halted"
            assert as_decimals(halted["balances"]) == want
            assert halted["balances_source"] == "heartbeat"
            pf = halted["portfolio"]
            price = Decimal(pf["price"])
            value = (want["QRL"]["free"] + want["QRL"]["locked"]) * price + \
                want["USDT"]["free"] + want["USDT"]["locked"]
            assert Decimal(pf["value"]) == value
            assert Decimal(pf["drift"]) == Decimal(pf["base_weight"]) - Decimal("0.5")
            await asyncio.to_thread(main, ["resume", "-c", cfg])
            await asyncio.sleep(1.2)
            code, live = await cli_json(capsys, "status", "-c", cfg)
            assert (code, live["state"], live["daemon"]["phase"]) == (0, "trading", "trading")
            await halt_and_settle(capsys, cfg, engine, sim)
        trades = sim.my_trades("QRLUSDT")
        orders = sim.orders()
    fills, cost_json = await stored_fills(redis_url)
    ledger = CostBasis.from_dict(cost_json)

    code, stopped = await cli_json(capsys, "status", "-c", cfg)
    assert code == 1 and stopped["state"] == "halted"
    assert "the daemon stopped (its last checkpoint)" in stopped["problems"]

    code, hist = await cli_json(capsys, "history", "-c", cfg, "--limit", "1000")
    assert code == 0
    assert {o["client_order_id"] for o in hist["orders"]} == {o["clientOrderId"]
                                                              for o in orders}
    listed = {f["trade_id"] for o in hist["orders"] for f in o["fills"]}
    assert listed == {str(t["id"]) for t in trades}
    assert hist["plans"] and hist["plans"][0]["reason_code"] == "halted"
    assert hist["coverage"]["plans"]["cap"] == 1000
    code, text = await cli_text(capsys, "history", "-c", cfg, "--limit", "3")
    assert code == 0 and text.count(" fill ") >= 1 and "plans (3 shown" in text
    small = tmp_path / "small.yaml"  # a config keeping 3 plans: the range asked is older
    small.write_text(yaml.safe_dump({"redis": {"url": redis_url, "plan_history_max": 3}}))
    code, capped = await cli_json(capsys, "history", "-c", str(small), "--since", "2020-01-01")
    note = capped["coverage"]["plans"]["note"]
    assert code == 0 and len(capped["plans"]) == 3 and capped["coverage"]["plans"]["full"]
    assert note.startswith("asked from 2020-01-01 00:00:00, but only the last 3 are kept "
                           "(redis.plan_history_max): nothing before ")

    code, pnl = await cli_json(capsys, "pnl", "-c", cfg)
    assert code == 0
    assert Decimal(pnl["totals"]["realized_pnl"]) == ledger.realized_pnl != 0
    periods = sum(Decimal(p["realized_pnl"]) for p in pnl["periods"])
    assert abs(periods - ledger.realized_pnl) < Decimal("1e-18")
    assert pnl["totals"]["fills"] == len(fills) == len(trades)
    assert Decimal(pnl["totals"]["fees"]["USDT"]) == sum(
        (Decimal(t["commission"]) for t in trades if t["commissionAsset"] == "USDT"),
        Decimal(0))
    held = pnl["now"]["held_before"]
    assert (Decimal(held["QRL"]), Decimal(held["USDT"])) == (Decimal("2000"), Decimal("1000"))
    code, weekly = await cli_json(capsys, "pnl", "-c", cfg, "--weekly")
    assert code == 0 and Decimal(weekly["totals"]["realized_pnl"]) == ledger.realized_pnl
    code, text = await cli_text(capsys, "pnl", "-c", cfg)
    assert code == 0 and "vs holding" in text
    for argv in readme_commands():  # as the README shows them, on this Redis
        code, text = await cli_text(capsys, *[cfg if a == "config.yaml" else a for a in argv])
        assert code == (1 if argv[0] == "status" else 0) and text, (argv, text)


def readme_commands() -> list[list[str]]:
    """The commands of the README's "History and PnL" block, without 'rebalancer'."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = text.split("### History and PnL", 1)[1].split("```")[1]
    lines = [ln.split("#")[0] for ln in block.splitlines() if ln.startswith("rebalancer ")]
    assert [ln.split()[1] for ln in lines] == ["status", "history", "pnl"], lines
    return [shlex.split(ln)[1:] for ln in lines]


@pytest.mark.parametrize("command", ["status", "history", "pnl"])
def test_no_state_exits_2(redis_url: str, tmp_path: Path, command: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "-c", cli_config(tmp_path, redis_url)]) == 2
    assert "no state under key prefix 'bot:QRLUSDT:'" in capsys.readouterr().err


def test_history_rejects_a_bad_since(redis_url: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "-c", cli_config(tmp_path, redis_url), "--since", "yesterday"]) == 2
    assert "--since 'yesterday'" in capsys.readouterr().err


async def test_status_shows_funds_locked_after_the_last_fill(
        redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The balances key is written only when fills are booked: an order resting since (its
    funds locked) is in the heartbeat's balances, not in that key. status shows the former."""
    cfg = cli_config(tmp_path, redis_url)
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url, execution={"order_type": "limit_maker",
                                                           "order_timeout_s": 60},
                                strategy={"rebalance_fraction": 0.5})
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: len(sim.my_trades("QRLUSDT")) >= 1
                           and engine.executor.in_flight is None, 30, "a filled order")
            sim.pause()  # a frozen market: the next maker order rests, its funds locked
            await wait_for(lambda: engine.executor.in_flight is not None
                           and engine.executor.in_flight.order_id is not None, 10,
                           "a resting order")
            await wait_for(lambda: any(b.locked > 0 for b in engine.ledger.balances.values()),
                           5, "the locked funds pushed")
            want = sim_balances(sim)
            await asyncio.sleep(1.2)  # two heartbeats
            code, report = await cli_json(capsys, "status", "-c", cfg)
            resting = [o["clientOrderId"] for o in sim.orders() if o["status"] == "NEW"]
    assert any(b["locked"] > 0 for b in want.values())
    assert as_decimals(report["balances"]) == want
    assert code == 0 and report["state"] == "trading"
    assert [o["client_order_id"] for o in report["open_orders"]] == resting


async def test_a_daemon_gone_without_a_checkpoint_shows_a_stale_heartbeat(
        redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A daemon that died (no last checkpoint): its heartbeat key lives on until its TTL;
    status says it is stale once older than 3 heartbeat intervals, and exits 1."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url},
                                    "health": {"heartbeat_interval_s": 0.5}}))
    cfg = str(path)
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url)
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.evaluations >= 1, 10, "an evaluation")
            await asyncio.sleep(0.6)
            code, fresh = await cli_json(capsys, "status", "-c", cfg)
            assert (code, fresh["state"], fresh["problems"]) == (0, "trading", [])
            await engine.close()  # gone: no stop, no last checkpoint
            await asyncio.sleep(1.8)
            code, stale = await cli_json(capsys, "status", "-c", cfg)
    assert (code, stale["state"]) == (1, "stale")
    assert stale["problems"][0].startswith("stale heartbeat: ")
    assert stale["problems"][0].endswith("s old (more than 1.5s)")
    code, text = await cli_text(capsys, "status", "-c", cfg)
    assert code == 1 and "state       stale (exit 1)" in text
