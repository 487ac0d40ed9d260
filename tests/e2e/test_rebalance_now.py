"""``rebalancer rebalance-now`` (issue 14): the running daemon evaluates at once, records the
trigger as ``manual`` with the reason, and the command prints the plan it caused; with no
daemon it says so within its timeout and leaves no request behind."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from daemon.cli import main
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

P = "bot:QRLUSDT:"


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


def config(tmp_path: Path, redis_url: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    return str(path)


async def test_the_daemon_evaluates_at_once_and_answers_with_its_plan(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, redis_url)
    async with Simulator(SimConfig(seed=4, speed=60.0)) as sim:
        settings = e2e_settings(sim, redis_url, schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.lease.may_decide, 10, "trading")
            await wait_for(lambda: engine.scheduler.running_s() is None, 10, "idle")
            before = engine.evaluations
            capsys.readouterr()
            started = time.monotonic()
            code = await cli("rebalance-now", "-c", cfg, "--reason", "checking after a deposit",
                             "--timeout", "10")
            took = time.monotonic() - started
            out = capsys.readouterr().out
            assert code == 0, out
            assert engine.evaluations == before + 1
            assert await cli("rebalance-now", "-c", cfg, "--json", "--timeout", "10") == 0
            doc = json.loads(capsys.readouterr().out)
    history = [json.loads(x) for x in await redis_client.lrange(P + "plan_history", 0, 1)]
    first = history[1]
    assert first["trigger"] == "manual"
    assert [m["reason"] for m in first["manual"]] == ["checking after a deposit"]
    assert f"[{first['reason_code']}]" in out and f"cycle {first['cycle_id']}" in out
    assert "trigger manual" in out
    assert doc["trigger"] == "manual" and doc["cycle_id"] == history[0]["cycle_id"]
    assert took < 5  # at once, not at the next 15-minute tick
    assert await redis_client.hlen(P + "manual_replies") == 0  # read and removed


async def test_without_a_daemon_it_says_so_and_withdraws_the_request(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, redis_url)
    await redis_client.set(P + "schema", "2")  # a daemon ran here once (else: refused, exit 2)
    assert await cli("rebalance-now", "-c", cfg, "--timeout", "0.5") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no daemon took the request within 0.5 s")
    assert "the request was withdrawn" in err
    assert await redis_client.llen(P + "manual_requests") == 0


@pytest.mark.parametrize(("argv", "said"), [
    (["--timeout", "0"], "--timeout: must be within (0, 3600] seconds, got 0"),
    (["--timeout", "soon"], "--timeout: expected seconds, got 'soon'"),
    (["--reason", "x" * 201], "--reason: at most 200 characters, got 201"),
])
def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              argv: list[str], said: str) -> None:
    cfg = config(tmp_path, "redis://127.0.0.1:1/0")
    assert main(["rebalance-now", "-c", cfg, *argv]) == 2
    assert said in capsys.readouterr().err
