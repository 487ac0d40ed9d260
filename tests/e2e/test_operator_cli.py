"""Operator commands against a running daemon, through the real CLI process (issue 16): a halt
forced before the first start holds the daemon from its first decision; ``plan`` without
``--snapshot`` evaluates the daemon's live decision inputs and says where they came from; the
README's "Operator commands" lines run as shown."""

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

from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

REPO = Path(__file__).resolve().parents[2]
P = "bot:QRLUSDT:"
UNBALANCED = {"QRL": "20000", "USDT": "200"}
PROVENANCE = re.compile(r"snapshot: the daemon's decision inputs from bot:QRLUSDT:heartbeat, "
                        r"written \d+\.\d s ago \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; daemon "
                        r"(\w+)\), evaluated as of then with this config's strategy and risk "
                        r"settings; halted now: (yes|no)\n")


def config(path: Path, redis_url: str, **extra: Any) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    cfg = path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": redis_url}, **extra}))
    return cfg


async def rebalancer(*args: str, stdin: str | None = None,
                     cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The CLI as a process, while the engine keeps running in this event loop."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "daemon", *args], input=stdin,
        capture_output=True, text=True, cwd=cwd, timeout=90, check=False)


async def beat(redis_client: aioredis.Redis) -> dict[str, Any]:
    raw = await redis_client.get(P + "heartbeat")
    assert raw is not None
    doc: dict[str, Any] = orjson.loads(raw)
    return doc


async def test_a_halt_forced_before_the_first_start_holds_the_daemon(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    cfg = str(config(tmp_path, redis_url))
    done = await rebalancer("halt", "-c", cfg, "--force", "--reason", "first look")
    assert done.returncode == 0, done.stderr
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url)
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.evaluations >= 2, 15, "two evaluations")
            assert engine.last_plan is not None and engine.last_plan.reason_code == "halted"
            assert sim.order_requests == []  # 10x off its target, and not one order
            status = await rebalancer("status", "-c", cfg)
            assert status.returncode == 1 and "halted      first look" in status.stdout
            assert (await rebalancer("resume", "-c", cfg)).returncode == 0
            await wait_for(lambda: len(sim.my_trades("QRLUSDT")) > 0, 15, "a trade on resume")
    assert await redis_client.get(P + "schema") == b"3"  # the flag did not block the start


async def test_plan_evaluates_the_daemons_live_inputs(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    # this config's strategy, not the daemon's (symmetric): a preview of a config change
    cfg = str(config(tmp_path, redis_url, strategy={"name": "intelligent", "max_drift": None}))
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url)
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.evaluations >= 1, 15, "a first evaluation")
            live = await rebalancer("plan", "-c", cfg)
            assert live.returncode == 0, live.stderr
            found = PROVENANCE.fullmatch(live.stderr)
            assert found is not None, live.stderr
            assert found.groups() == ("trading", "no")
            assert json.loads(live.stdout)["figures"]["strategy"] == "intelligent"
            halted = await rebalancer("halt", "-c", cfg, "--reason", "look")
            assert halted.returncode == 0, halted.stderr
            after = await rebalancer("plan", "-c", cfg)
    assert after.returncode == 0 and json.loads(after.stdout)["reason_code"] == "halted"
    found = PROVENANCE.fullmatch(after.stderr)
    assert found is not None and found.groups()[1] == "yes"
    stopped = await rebalancer("plan", "-c", cfg)  # the last checkpoint of a stopped daemon
    found = PROVENANCE.fullmatch(stopped.stderr)
    assert stopped.returncode == 0 and found is not None, stopped.stderr
    assert found.groups() == ("stopped", "yes")
    last = await beat(redis_client)
    doc = last["snapshot"]
    # the same inputs given as a file (with the halt flag) give the same plan
    fed = await rebalancer("plan", "-c", cfg, "--snapshot", "-",
                           stdin=json.dumps({**doc, "halted": True}))
    assert fed.returncode == 0, fed.stderr
    plan = json.loads(stopped.stdout)
    assert json.loads(fed.stdout) == plan
    books = last["books"]["balances"]  # the balances the daemon decided on
    held = {a: Decimal(b["free"]) + Decimal(b["locked"]) for a, b in doc["balances"].items()}
    assert held == {a: Decimal(b["free"]) + Decimal(b["locked"]) for a, b in books.items()}
    assert Decimal(plan["figures"]["base_total"]) == held["QRL"]
    assert Decimal(plan["figures"]["quote_total"]) == held["USDT"]
    assert doc["price"] == last["price"] is not None and doc["ma_long"] == last["ma_long"]
    assert doc["rules"]["base_asset"] == "QRL" and doc["now_ms"] == last["time_ms"]
    old = {k: v for k, v in last.items() if k != "snapshot"}
    await redis_client.set(P + "heartbeat", orjson.dumps(old))  # an earlier release's beat
    done = await rebalancer("plan", "-c", cfg)
    assert (done.returncode, done.stdout) == (2, "")
    assert "holds no decision inputs (written by a daemon of an earlier release" in done.stderr
    await redis_client.delete(P + "heartbeat")
    done = await rebalancer("plan", "-c", cfg)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"error: no live state: {P}heartbeat is absent")


def readme_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Operator commands\n", 1)[1].split("\n#", 1)[0]
    block = section.split("```\n", 2)[1]
    return [ln for ln in block.splitlines() if ln.strip()]


async def test_the_readme_operator_commands_run_as_shown(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    lines = readme_lines()
    assert all(ln.startswith("rebalancer ") for ln in lines), lines
    first_start = [ln for ln in lines if "--force" in ln]
    assert len(first_start) == 1
    bindir = tmp_path / "bin"  # `rebalancer` on PATH is this checkout's
    bindir.mkdir()
    (bindir / "rebalancer").write_text(f"#!/bin/sh\nexec {sys.executable} -m daemon \"$@\"\n")
    (bindir / "rebalancer").chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "PYTHONPATH": str(REPO)}

    async def shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, ["bash", "-c", line], capture_output=True,
            text=True, cwd=cwd, env=env, timeout=90, check=False)

    fresh = config(tmp_path / "fresh", redis_url, redis={"url": redis_url,
                                                          "key_prefix": "bot:FRESH:"})
    done = await shell(first_start[0], fresh.parent)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(await redis_client.get("bot:FRESH:halted") or b"{}")["reason"] == \
        "not before I say so"
    work = config(tmp_path / "work", redis_url).parent
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url, schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.lease.may_decide, 15, "trading")
            await wait_for(lambda: engine.scheduler.running_s() is None, 15, "idle")
            await asyncio.sleep(1.0)  # a heartbeat (every 0.5 s) with the inputs plan reads
            outputs = {}
            for line in lines:
                if line not in first_start:
                    done = await shell(line, work)
                    assert done.returncode == 0, (line, done.stderr)
                    outputs[line.split("#")[0].split()[1]] = done.stdout
    assert outputs["--version"].startswith("rebalancer ")
    assert json.loads(outputs["plan"])["action"] in ("BUY", "SELL", "HOLD")
    assert outputs["halt"].startswith("halted QRLUSDT: moving funds (the daemon holds")
    assert outputs["resume"] == "resumed QRLUSDT\n"
    assert outputs["core"].startswith("core floor of QRLUSDT set to 5600 (core credit 0)")
    assert "trigger manual" in outputs["rebalance-now"]
    assert outputs["status"] == "QRLUSDT (bot:QRLUSDT:)\n"
