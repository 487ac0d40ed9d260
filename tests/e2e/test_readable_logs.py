"""Logs that read well (issue 15): a HOLD for the same reason is said once at INFO (the plan is
still recorded every evaluation), each evaluation has its own cycle id even within one second,
and prices, averages and the average cost are shown at the symbol's precision, fills with their
wall-clock time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger

from daemon.adapters.redis_store import RedisStore
from daemon.config import Mode
from daemon.runtime.compose import build_engine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

UNBALANCED = {"QRL": "20000", "USDT": "200"}
DECIMALS = re.compile(r"\d+\.(\d+)")


@contextmanager
def info_messages() -> Iterator[list[str]]:
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="INFO")
    try:
        yield said
    finally:
        logger.remove(sink)


async def test_unchanged_hold_is_said_once_and_cycle_ids_are_unique(redis_url: str) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0)) as sim:
        # no scheduled evaluation in between (e2e_settings evaluates every second)
        settings = e2e_settings(sim, redis_url, schedule={"interval_s": 3600}).model_copy(
            update={"mode": Mode.DRY_RUN})
        engine = await build_engine(settings, None, Supervisor())
        await engine.start()
        try:
            with info_messages() as said:
                for _ in range(4):  # back to back: well within one second
                    await engine.evaluate("test")
        finally:
            await engine.stop()
    holds = [m for m in said if m.startswith("HOLD 0 [empty_portfolio]")]
    assert len(holds) == 1, said
    store = RedisStore(redis_url, settings.key_prefix)
    await store.connect()
    try:
        plans = await store.plan_history(10)
    finally:
        await store.close()
    assert len(plans) == 4  # every evaluation is still recorded
    assert len({p["cycle_id"] for p in plans}) == 4, [p["cycle_id"] for p in plans]


async def test_prices_at_the_symbols_precision_and_fill_times(redis_url: str) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
        with info_messages() as said:
            async with running_engine(e2e_settings(sim, redis_url), sim_creds(sim)) as engine:
                await wait_for(lambda: len(sim.my_trades("QRLUSDT")) >= 1
                               and engine.executor.in_flight is None, 15, "a trade")
                places = engine.rules.quote_precision
    fills = [m for m in said if m.startswith("fill booked:")]
    decisions = [m for m in said if " MA short " in m and "(price " in m]
    assert fills and decisions
    assert all(re.search(r"traded 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", m) for m in fills)
    for m in fills:
        avg = m.split("avg cost ")[1].split(" ")[0]
        assert avg == "n/a" or len(DECIMALS.fullmatch(avg).group(1)) <= places, m  # type: ignore[union-attr]
    for m in decisions:
        tail = m.rsplit("(price ", 1)[1]
        assert all(len(d) <= places for d in DECIMALS.findall(tail.split(", drift")[0])), m
