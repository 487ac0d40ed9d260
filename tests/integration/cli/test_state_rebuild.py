"""``rebalancer state rebuild`` (issue 11, section 2): when Redis lost the books, rebuild them
from the exchange (the same fills, orders and cost basis the daemon booked), never over books
that exist; ``--fresh`` starts over deliberately; no keys is a usage error. The commands run
here are the ones the README's "Recovery runbook: Redis lost the books" shows."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.cli import main
from daemon.config import Settings, parse_settings
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Side
from daemon.errors import StateError
from daemon.runtime.compose import build_engine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import (
    exchange_fill_keys,
    fill_key,
    running_engine,
    sim_creds,
    stored_fills,
    wait_for,
)
from tests.support.fixtures import PREFIX
from tests.support.store_builders import booked_ids

UNBALANCED = {"QRL": "20000", "USDT": "200"}
# no REST weight budget: a rebuild reads 30+ windows, twice in a row here (--dry-run first)
QUICK = {"weight_per_10s": None}


def config(sim: Simulator, redis_url: str, **strategy: Any) -> dict[str, Any]:
    return {
        "mode": "live",
        # a POST that times out has an unknown outcome: on a loaded machine (CI) 2 s was
        # once not enough for the orders these tests place directly
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "request_timeout_ms": 8000},
        "redis": {"url": redis_url, "lease_ttl_s": 3},
        "schedule": {"interval_s": 1},
        "strategy": {"name": "symmetric", "threshold": "0.002", **strategy},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 10000,
                 "max_price_deviation_pct": 100, "stale_after_s": 30, "min_notional": 1},
        "execution": {"order_timeout_s": 2, "poll_max_interval_s": 0.5},
        "health": {"heartbeat_interval_s": 0.5},
    }


def write(tmp_path: Path, data: dict[str, Any]) -> tuple[str, Settings]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path), parse_settings(data)


async def cli(*args: str) -> int:
    """The CLI runs its own event loop (asyncio.run): call it from a thread."""
    return await asyncio.to_thread(main, list(args))


@pytest.fixture
def keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEXC_API_KEY", "mx0vglDEMOKEY0000000")
    monkeypatch.setenv("MEXC_API_SECRET", "demo-secret-not-real-0000000000000")


async def dump(client: aioredis.Redis) -> dict[str, Any]:
    """Every key under the prefix with its type and content (to prove nothing changed)."""
    out: dict[str, Any] = {}
    for k in sorted(await client.keys(PREFIX + "*")):
        kind = (await client.type(k)).decode()
        if kind == "string":
            out[k.decode()] = await client.get(k)
        elif kind == "hash":
            out[k.decode()] = await client.hgetall(k)
        elif kind == "set":
            out[k.decode()] = await client.smembers(k)
        elif kind == "zset":
            out[k.decode()] = await client.zrange(k, 0, -1, withscores=True)
        else:
            out[k.decode()] = await client.lrange(k, 0, -1)
    return out


async def books(redis_url: str) -> dict[str, Any]:
    store = RedisStore(redis_url, PREFIX)
    await store.connect()
    try:
        state = await store.load_state()
        fills = await store.get_fills()
    finally:
        await store.close()
    assert state.cost_basis is not None
    return {
        "orders": {c: (o.order_id, o.status, o.side, o.qty, tuple(f.trade_id for f in o.fills))
                   for c, o in state.orders.items()},
        "open": state.open_order_ids,
        "fills": {(f.trade_id, f.order_id, f.side, f.price, f.qty, f.fee, f.fee_asset,
                   f.time_ms) for f in fills},
        "cost": CostBasis.from_dict(state.cost_basis),
        "trades_total": state.counters.trades_total,
        "counters": state.counters,
    }


async def test_rebuild_on_a_wiped_prefix_reproduces_the_books_the_daemon_kept(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path, keys_in_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=UNBALANCED, **QUICK)) as sim:
        path, settings = write(tmp_path, config(sim, redis_url, initial_cost_basis="0.04"))
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: len(engine.ledger.booked) >= 2, 20, "two fills booked")
            resting = await engine.rest.place_order(  # an order of ours left open
                "QRLUSDT", Side.BUY, "LIMIT", client_order_id="rb-rest1-0",
                quantity=Decimal("100"), price=(sim.price() * Decimal("0.5")).quantize(
                    Decimal("0.00001")))
            await wait_for(lambda: engine.executor.in_flight is None, 10, "the order to end")
            engine.lease.stop()  # no new decision while we stop
        kept = await books(redis_url)
        assert kept["cost"].avg_cost is not None and len(kept["fills"]) >= 2
        await redis_client.delete(*await redis_client.keys(PREFIX + "*"))  # Redis lost it

        capsys.readouterr()
        assert await cli("state", "rebuild", "-c", path, "--dry-run") == 0
        out = capsys.readouterr().out
        assert "dry run: nothing written" in out and "could not know:" in out
        assert await redis_client.keys(PREFIX + "*") == []

        assert await cli("state", "rebuild", "-c", path) == 0
        out = capsys.readouterr().out
        rebuilt = await books(redis_url)
        assert rebuilt["fills"] == kept["fills"]  # the same trade ids, prices, quantities
        assert rebuilt["cost"] == kept["cost"]  # avg cost, quantity, PnL, trade ids: exactly
        for coid, order in kept["orders"].items():
            assert rebuilt["orders"][coid] == order
        assert rebuilt["orders"]["rb-rest1-0"][:2] == (resting.order_id, "NEW")
        assert rebuilt["open"] == {"rb-rest1-0"}
        assert rebuilt["trades_total"] == kept["trades_total"]
        assert f"fills       {len(kept['fills'])} of ours booked" in out
        shown = re.search(r"avg (\S+) USDT, quantity covered (\S+) QRL", out)
        assert shown is not None, out  # the same figures (as decimals: 12000 == 12000.0)
        assert (Decimal(shown[1]), Decimal(shown[2])) == (kept["cost"].avg_cost,
                                                          kept["cost"].qty)
        assert "1 open" in out and "open rb-rest1-0 BUY 100" in out
        assert "(an estimate)" in out and "a lower bound" in out
        assert await redis_client.get(PREFIX + "schema") == b"3"
        assert await redis_client.get(PREFIX + "books") == b"1"
        assert len(await redis_client.get(PREFIX + "epoch") or b"") == 16

        # the daemon starts on the rebuilt books (no refusal), follows the open order, trades on
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: engine.ledger.orders["rb-rest1-0"].is_terminal, 15,
                           "the rebuilt open order to be followed")
            await wait_for(lambda: engine.executor.in_flight is None, 10, "the order to end")
            engine.lease.stop()
        fills, cost = await stored_fills(redis_url)
        assert sorted(fill_key(f) for f in fills) == exchange_fill_keys(sim)  # all booked once
        assert cost is not None and cost["fills"] == len(fills) == len({f.trade_id for f in fills})


async def test_rebuild_refuses_a_prefix_that_holds_books(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path, keys_in_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0, **QUICK)) as sim:
        path, _ = write(tmp_path, config(sim, redis_url))
        await redis_client.set(PREFIX + "schema", "1")
        await redis_client.set(PREFIX + "cost_basis", '{"v":1}')
        before = await dump(redis_client)
        for extra in ((), ("--fresh",)):
            capsys.readouterr()
            assert await cli("state", "rebuild", "-c", path, *extra) == 1
            err = capsys.readouterr().err
            assert f"{PREFIX}cost_basis, {PREFIX}schema" in err and "not empty" in err
            assert await dump(redis_client) == before  # nothing written
        assert await cli("state", "rebuild", "-c", path, "--dry-run") == 0  # only prints
        assert "dry run: nothing written" in capsys.readouterr().out
        assert await dump(redis_client) == before


async def test_fresh_writes_a_new_life_and_the_daemon_starts(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path, keys_in_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0, **QUICK)) as sim:
        path, settings = write(tmp_path, config(sim, redis_url, initial_cost_basis="0.04"))
        async with MexcRest(settings.exchange, sim_creds(sim)) as rest:  # an order of ours
            await rest.place_order("QRLUSDT", Side.SELL, "MARKET", client_order_id="rb-x1-0",
                                   quantity=Decimal("100"))
        await redis_client.set(PREFIX + "halted", '{"reason":"ops","time_ms":1}')
        supervisor = Supervisor()
        with pytest.raises(StateError, match=r"order\(s\) of ours"):
            await build_engine(settings, sim_creds(sim), supervisor)  # refused: history
        await supervisor.stop()
        capsys.readouterr()
        assert await cli("state", "rebuild", "-c", path, "--fresh") == 0
        out = capsys.readouterr().out
        assert "fresh start of QRLUSDT" in out and "exchange history ignored" in out
        assert await redis_client.get(PREFIX + "schema") == b"3"
        assert await redis_client.get(PREFIX + "books") == b"1"
        epoch = (await redis_client.get(PREFIX + "epoch") or b"").decode()
        assert len(epoch) == 16 and int(epoch, 16) >= 0 and epoch in out
        assert await redis_client.get(PREFIX + "halted") == b'{"reason":"ops","time_ms":1}'
        raw = await redis_client.get(PREFIX + "cost_basis")
        assert raw is not None
        cost = CostBasis.from_dict(yaml.safe_load(raw))
        held = sim.balances()["QRL"]
        assert cost == CostBasis.initial(Decimal("0.04"), held[0] + held[1])
        assert await booked_ids(redis_client, PREFIX) == set()
        supervisor = Supervisor()
        engine = await build_engine(settings, sim_creds(sim), supervisor)  # not refused now
        await engine.close()
        await supervisor.stop()


async def test_without_api_keys_rebuild_is_a_usage_error(
        redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEXC_API_KEY", raising=False)
    monkeypatch.delenv("MEXC_API_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    assert await cli("state", "rebuild", "-c", str(path)) == 2
    assert "state rebuild needs the API keys" in capsys.readouterr().err
    assert await cli("state", "rebuild", "-c", str(path), "--fresh") == 2



async def test_rebuild_reaches_orders_older_than_7_days_through_their_trades(
        redis_url: str, tmp_path: Path, keys_in_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with Simulator(SimConfig(seed=4, speed=60.0, **QUICK)) as sim:
        path, settings = write(tmp_path, config(sim, redis_url))
        async with MexcRest(settings.exchange, sim_creds(sim)) as rest:
            async def market(coid: str, side: Side) -> str:
                placed = await rest.place_order("QRLUSDT", side, "MARKET", client_order_id=coid,
                                                quantity=Decimal("100"))
                return placed.order_id

            await market("rb-gone-0", Side.SELL)  # 40 days old: beyond every reach
            sim.advance(30 * 86400)
            await market("rb-week-0", Side.SELL)  # 10 days old: only myTrades has it
            await market("web1", Side.BUY)  # a manual trade
            sim.advance(10 * 86400)
            await market("rb-new-0", Side.BUY)
        capsys.readouterr()
        assert await cli("state", "rebuild", "-c", path) == 0
        out = capsys.readouterr().out
        rebuilt = await books(redis_url)
    assert set(rebuilt["orders"]) == {"rb-week-0", "rb-new-0"}
    ours = [t for t in sim.my_trades("QRLUSDT") if t["clientOrderId"] in ("rb-week-0",
                                                                          "rb-new-0")]
    assert {f[0] for f in rebuilt["fills"]} == {str(t["id"]) for t in ours}
    assert rebuilt["trades_total"] == 2  # a lower bound: rb-gone-0 is beyond MEXC's month
    assert "trades not of ours are not booked (1 found)" in out
    assert "1 trade(s) of QRLUSDT not of ours" in out
    assert "held before the first fill found" in out and "is unknown" in out
