"""Operator commands against a running engine: halt (HOLD `halted`), resume, core set, status;
and dry_run, which records plans that say so and never sends an order."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from daemon.cli import main
from daemon.config import Mode
from daemon.errors import SymbolNotTradable
from daemon.runtime.compose import build_engine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

UNBALANCED = {"QRL": "20000", "USDT": "200"}


async def cli(*args: str) -> int:
    """The CLI runs its own event loop (asyncio.run): call it from a thread."""
    return await asyncio.to_thread(main, list(args))


def cli_config(tmp_path: Path, redis_url: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    return str(path)


async def test_halt_resume_core_and_status(redis_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cli_config(tmp_path, redis_url)
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url)
        async with running_engine(settings, sim_creds(sim)) as engine:
            assert await cli("halt", "-c", cfg, "--reason", "maintenance") == 0
            await wait_for(lambda: engine.last_plan is not None
                           and engine.last_plan.reason_code == "halted", 5, "a halted HOLD")
            assert sim.orders() == []
            assert await cli("resume", "-c", cfg) == 0
            await wait_for(lambda: len(sim.my_trades("QRLUSDT")) > 0, 10, "a trade after resume")
            await wait_for(lambda: engine.executor is not None
                           and engine.executor.in_flight is None, 10, "the order to end")
            assert await cli("core", "set", "1234.5", "-c", cfg) == 0
            assert await cli("core", "set", "-5", "-c", cfg) == 2
            assert await cli("core", "set", "lots", "-c", cfg) == 2
            await wait_for(lambda: engine.ledger is not None and engine.ledger.store.available,
                           2, "store")
            capsys.readouterr()
            assert await cli("status", "-c", cfg, "--json") == 0
            report = json.loads(capsys.readouterr().out)
        trades = sim.my_trades("QRLUSDT")
    assert report["core_floor"] == "1234.5"
    assert report["halted"] is None
    assert report["daemon"]["state"] in ("trading", "stopped")
    assert report["heartbeat_age_s"] is not None and report["heartbeat_age_s"] < 5
    assert len(report["last_trades"]) == min(10, len(trades))
    assert {t["trade_id"] for t in report["last_trades"]} <= {str(t["id"]) for t in trades}
    assert report["counters"]["trades_total"] >= 1
    assert Decimal(report["cost_basis"]["qty"]) >= 0
    assert await cli("status", "-c", cfg) == 1  # the daemon stopped: not healthy (issue 15)
    text = capsys.readouterr().out
    assert "core floor  1234.5" in text and "last trades" in text
    assert "state       stopped (exit 1)" in text


async def test_dry_run_records_plans_and_sends_nothing(redis_url: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        settings = e2e_settings(sim, redis_url).model_copy(update={"mode": Mode.DRY_RUN})
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.evaluations >= 2, 10, "two evaluations")
        assert sim.order_requests == []
    cfg = cli_config(tmp_path, redis_url)
    capsys.readouterr()
    assert await cli("status", "-c", cfg, "--json") == 1  # stopped (issue 15)
    plan = json.loads(capsys.readouterr().out)["last_plan"]
    assert plan["action"] == "SELL" and plan["dry_run"] is True


def test_status_without_state_is_a_clear_error(redis_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "-c", cli_config(tmp_path, redis_url)]) == 2  # issue 15: no state
    assert "no state under key prefix 'bot:QRLUSDT:'" in capsys.readouterr().err


def test_commands_report_an_unreachable_redis(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cli_config(tmp_path, "redis://127.0.0.1:1/0")
    assert main(["halt", "-c", cfg]) == 1
    assert "Redis at redis://127.0.0.1:1/0 is unavailable" in capsys.readouterr().err


async def test_halt_cancels_the_order_in_flight(redis_url: str, tmp_path: Path) -> None:
    cfg = cli_config(tmp_path, redis_url)
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        sim.pause()  # a frozen market: the maker order rests
        settings = e2e_settings(sim, redis_url, execution={"order_type": "limit_maker",
                                                           "order_timeout_s": 60})
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.executor is not None
                           and engine.executor.in_flight is not None
                           and engine.executor.in_flight.order_id is not None, 10,
                           "a resting order")
            assert await cli("halt", "-c", cfg, "--reason", "test") == 0
            await wait_for(lambda: engine.executor is not None
                           and engine.executor.in_flight is None, 5,
                           "the halt to cancel it (long before its 60 s timeout)")
            await wait_for(lambda: engine.last_plan is not None
                           and engine.last_plan.reason_code == "halted", 5, "HOLD halted")
        assert [o["status"] for o in sim.orders()] == ["CANCELED"]


async def test_dry_run_without_keys_starts_and_says_why_it_holds(redis_url: str) -> None:
    """The shipped default (dry_run, no keys) must run: public data only, nothing to
    reconcile, plans that say the balances are unknown."""
    async with Simulator(SimConfig(seed=4, speed=60.0)) as sim:
        settings = e2e_settings(sim, redis_url).model_copy(update={"mode": Mode.DRY_RUN})
        engine = await build_engine(settings, None, Supervisor())
        await engine.start()
        try:
            await engine.evaluate("test")
            assert engine.last_plan is not None
            assert (engine.last_plan.action, engine.last_plan.reason_code) == \
                ("HOLD", "empty_portfolio")
            assert engine.market.window.ready
        finally:
            await engine.stop()
        assert sim.order_requests == []


async def test_failed_start_leaves_nothing_running(redis_url: str) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0)) as sim:
        settings = e2e_settings(sim, redis_url).model_copy(update={"symbol": "NOPEUSDT"})
        before = len(asyncio.all_tasks())
        with pytest.raises(SymbolNotTradable, match="NOPEUSDT"):
            await build_engine(settings, sim_creds(sim), Supervisor())
        await asyncio.sleep(0.1)
        assert len(asyncio.all_tasks()) <= before
