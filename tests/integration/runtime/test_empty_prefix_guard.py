"""An EMPTY key prefix on an account whose recent history holds orders of ours is refused at
start in mode live (issue 11, section 2): it would reset the cost basis, core floor and
counters. Nothing is written before the check passes; dry_run or no keys skip the check."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Mode
from daemon.domain.models import Side
from daemon.errors import StateError
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import Simulator
from tests.support.e2e_harness import e2e_settings, sim_creds

PREFIX = "bot:QRLUSDT:"


async def _market(rest: MexcRest, client_id: str, side: Side = Side.BUY) -> str:
    placed = await rest.place_order("QRLUSDT", side, "MARKET", client_order_id=client_id,
                                    quantity=Decimal("100"))
    return placed.order_id


async def _closed(engine: RebalancerEngine, supervisor: Supervisor) -> None:
    await engine.close()
    await supervisor.stop()


async def test_live_start_on_empty_prefix_with_our_history_is_refused(
        msim: Simulator, rest: MexcRest, redis_url: str, redis_client: aioredis.Redis) -> None:
    await _market(rest, "rb-t1aaaa-0")
    await _market(rest, "manual1", Side.SELL)  # not ours: not counted
    msim.advance(3600)
    await _market(rest, "rb-t1bbbb-0", Side.SELL)
    supervisor = Supervisor()
    with pytest.raises(StateError) as caught:
        await build_engine(e2e_settings(msim, redis_url), sim_creds(msim), supervisor)
    await supervisor.stop()
    text = str(caught.value)
    assert "2 order(s) of ours" in text
    assert "the newest rb-t1bbbb-0" in text
    assert "rebalancer state rebuild -c FILE" in text
    assert "rebalancer state rebuild -c FILE --fresh" in text
    assert await redis_client.keys(PREFIX + "*") == []  # no schema (nor anything else) was written


async def test_live_start_on_empty_prefix_without_our_history_starts_new(
        msim: Simulator, rest: MexcRest, redis_url: str, redis_client: aioredis.Redis) -> None:
    await _market(rest, "manual1")
    supervisor = Supervisor()
    engine = await build_engine(e2e_settings(msim, redis_url), sim_creds(msim), supervisor)
    await _closed(engine, supervisor)
    assert await redis_client.get(PREFIX + "schema") == b"3"


async def test_an_order_older_than_the_7_days_allorders_keeps_is_not_seen(
        msim: Simulator, rest: MexcRest, redis_url: str, redis_client: aioredis.Redis) -> None:
    await _market(rest, "rb-t1aaaa-0")
    msim.advance(8 * 86400)
    supervisor = Supervisor()
    engine = await build_engine(e2e_settings(msim, redis_url), sim_creds(msim), supervisor)
    await _closed(engine, supervisor)
    assert await redis_client.get(PREFIX + "schema") == b"3"


async def test_an_open_order_of_ours_older_than_7_days_is_seen(
        msim: Simulator, rest: MexcRest, redis_url: str, redis_client: aioredis.Redis) -> None:
    price = (msim.price() * Decimal("0.3")).quantize(Decimal("0.00001"))
    await rest.place_order("QRLUSDT", Side.BUY, "LIMIT", client_order_id="rb-rest-0",
                           quantity=Decimal("100"), price=price)
    msim.advance(8 * 86400)
    supervisor = Supervisor()
    with pytest.raises(StateError, match=r"1 order\(s\) of ours .* the newest rb-rest-0"):
        await build_engine(e2e_settings(msim, redis_url), sim_creds(msim), supervisor)
    await supervisor.stop()
    assert await redis_client.keys(PREFIX + "*") == []


async def test_prefix_with_books_is_not_checked_again(
        msim: Simulator, rest: MexcRest, redis_url: str, redis_client: aioredis.Redis) -> None:
    await redis_client.set(PREFIX + "schema", "1")
    await _market(rest, "rb-t1aaaa-0")
    supervisor = Supervisor()
    engine = await build_engine(e2e_settings(msim, redis_url), sim_creds(msim), supervisor)
    await _closed(engine, supervisor)


@pytest.mark.parametrize("how", ["dry_run", "no_keys"])
async def test_dry_run_or_no_keys_skip_the_check_and_say_so(
        msim: Simulator, rest: MexcRest, redis_url: str, redis_client: aioredis.Redis,
        how: str) -> None:
    await _market(rest, "rb-t1aaaa-0")
    settings = e2e_settings(msim, redis_url).model_copy(update={"mode": Mode.DRY_RUN})
    creds = None if how == "no_keys" else sim_creds(msim)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m.record["message"])), level="INFO")
    supervisor = Supervisor()
    try:
        engine = await build_engine(settings, creds, supervisor)
        await _closed(engine, supervisor)
    finally:
        logger.remove(sink)
    why = "no API keys" if how == "no_keys" else "mode dry_run"
    assert f"{PREFIX} holds no books; exchange history not checked ({why})" in lines
    assert await redis_client.get(PREFIX + "schema") == b"3"
