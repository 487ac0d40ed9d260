"""Strategy v2's core credit is part of the books (issue 14): a Redis written by v1 (schema 1,
a core floor without credit) is MIGRATED when v2 starts on it (logged once, nothing wiped, the
floor kept, credit 0); a sell is booked into the credit in the same write as its fill (the
floor does not move); ``status`` shows it; ``core set`` resets it (STRATEGY.md C3)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
import yaml

from daemon.adapters.redis_store import RedisStore
from daemon.cli import main
from daemon.domain.cost_basis import CostBasis
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import (
    e2e_settings,
    running_engine,
    sim_creds,
    wait_for,
    warning_messages,
)

P = "bot:QRLUSDT:"
UNBALANCED = {"QRL": "20000", "USDT": "200"}  # the first decision sells


async def write_v1_books(redis_url: str) -> None:
    """What the previous release left: schema "1" and a core floor record without credit."""
    store = RedisStore(redis_url, P)
    await store.connect()
    try:
        await store.check_schema()
        await store.load_state()
        await store.set_cost_basis(CostBasis.initial(Decimal("0.04"), Decimal(20000)).to_dict())
    finally:
        await store.close()
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.set(P + "schema", "1")
        await raw.set(P + "core_floor", '{"qty": "9000", "updated_ms": 1, "source": "manual"}')
    finally:
        await raw.aclose()


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_v2_starts_on_a_v1_redis_and_books_sells_into_the_credit(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    await write_v1_books(redis_url)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    with warning_messages() as said:
        async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED)) as sim:
            settings = e2e_settings(sim, redis_url)
            async with running_engine(settings, sim_creds(sim)) as engine:
                await wait_for(lambda: engine.ledger.core_credit > 0, 10, "a sell booked")
                engine.scheduler.reschedule(3600)
                await wait_for(lambda: engine.executor.in_flight is None, 10, "the order")
                floor, credit = engine.ledger.core_floor, engine.ledger.core_credit
            sold = sum(Decimal(str(t["qty"])) for t in sim.my_trades("QRLUSDT")
                       if t["isBuyer"] is False)
    migrated = [m for m in said if "migrated from schema 1 to 3" in m]
    assert len(migrated) == 1, said  # logged once
    assert await redis_client.get(P + "schema") == b"3"
    assert floor == Decimal(9000) and credit == sold > 0  # the floor did not move
    stored = orjson.loads(await redis_client.get(P + "core_floor") or b"{}")
    assert (stored["qty"], Decimal(stored["credit"])) == ("9000", sold)
    capsys.readouterr()
    assert await cli("status", "-c", str(cfg), "--json") == 1  # the daemon has stopped
    report = json.loads(capsys.readouterr().out)
    assert (report["core_floor"], Decimal(report["core_credit"])) == ("9000", sold)
    # C3: core set 9000 with a credit: floor 9000, credit 0
    assert await cli("core", "set", "9000", "-c", str(cfg)) == 0
    assert "set to 9000 (core credit 0)" in capsys.readouterr().out
    stored = orjson.loads(await redis_client.get(P + "core_floor") or b"{}")
    assert (stored["qty"], stored["credit"], stored["source"]) == ("9000", "0", "manual")
