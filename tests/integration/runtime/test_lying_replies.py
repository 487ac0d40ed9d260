"""Issue 12 part 2 through the real executor, MexcRest and simulator (over HTTP) and a real
Redis: an answer to an order that is not clearly a refusal leaves its outcome unknown (found by
client order id, never "rejected"); an order object or a myTrades row that lies (executedQty
null or "-1", prices x100) is not booked, is logged naming the endpoint, field and value, and is
asked again until the exchange answers truthfully."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import pytest
from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, parse_settings
from daemon.domain.models import Side
from daemon.domain.money import fmt
from daemon.domain.orders import Order, OrderState
from daemon.domain.planner import Figures, Plan
from daemon.domain.pricing import PriceReference
from daemon.runtime.executor import Executor
from daemon.runtime.lease import TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.settings_ref import SettingsRef
from daemon.sim import BadReply, Realism, SimConfig, Simulator
from tests.support.e2e_harness import assert_books_match_exchange

NOW = 1_700_000_000_000


@dataclass
class World:
    sim: Simulator
    rest: MexcRest
    ledger: Ledger
    executor: Executor
    redis_url: str

    async def buy(self, qty: str = "200", side: Side = Side.BUY) -> Order:
        """A BUY (or SELL) of ``qty`` QRL (about 10 USDT at the simulator's 0.05) through the
        executor, followed to its end."""
        plan = Plan(action=side.value, side=side, quantity=Decimal(qty), price=None,
                    notional=Decimal("0"), reason_code="test", reason="test",
                    figures=cast(Figures, None))
        market = PriceReference((await self.rest.book_top("QRLUSDT")).bid_price)
        order = await self.executor.execute(plan, "cyc1", self.ledger.rules, market)
        assert order is not None
        return order


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    realism = Realism(not_found_after_create_s=0.0)
    async with Simulator(SimConfig(seed=11, speed=60.0, realism=realism), port=0) as sim:
        settings = parse_settings({
            "symbol": sim.cfg.symbol,
            "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                         "request_timeout_ms": 2000},
            "execution": {"unknown_order_retries": 3, "poll_max_interval_s": 0.05,
                          "order_timeout_s": 2, "not_found_grace_s": 0},
            "redis": {"url": redis_url}})
        creds = Credentials.model_validate({"api_key": sim.api_key,
                                            "api_secret": sim.api_secret})
        rest = MexcRest(settings.exchange, creds, max_retries=0)
        store = RedisStore.from_settings(settings)
        await rest.start()
        await store.connect()
        try:
            await store.check_schema()
            ref = SettingsRef(settings)
            lease = TradingLease(store, ref)
            assert await lease.take()
            ledger = Ledger(store, ref, await rest.exchange_rules(settings.symbol),
                            await store.load_state(), lambda: NOW, lease_owner=lease.owner)
            ledger.update_balances(await rest.account())
            yield World(sim, rest, ledger, Executor(ref, rest, ledger, lambda: NOW, lease),
                        redis_url)
        finally:
            await store.close()
            await rest.close()


@contextmanager
def logged() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


@pytest.mark.parametrize("code", [30005, 700007, 12345])
async def test_a_200_code_to_an_order_it_accepted_is_not_rejected(world: World,
                                                                  code: int) -> None:
    """The exchange placed (and filled) the order, then answered 200 {"code","msg"}: a known
    refusal code (30005 "Oversold"), an auth code, an unknown one. None of them is clearly a
    refusal: the order is found by client id, followed, its fills booked once."""
    world.sim.faults.bad_replies = (BadReply("POST /api/v3/order", "code_after", first=1,
                                             code=code, msg="Oversold"),)
    with logged() as lines:
        order = await world.buy()
    assert [a.outcome.split(":")[0] for a in world.sim.order_requests] == ["accepted"]
    assert order.status is OrderState.FILLED and order.order_id is not None
    assert order.filled_qty == Decimal(200)
    assert not [line for line in lines if "contradictory" in line or "rejected" in line]
    fills = await assert_books_match_exchange(world.sim, world.redis_url)
    assert sum(f.qty for f in fills) == Decimal(200)


@pytest.mark.parametrize("kind", ["executed_null", "executed_negative"])
async def test_filled_without_a_true_executed_qty_is_asked_again(world: World,
                                                                 kind: str) -> None:
    """GET /api/v3/order answers FILLED with executedQty null or "-1" twice: the order is not
    closed as "FILLED, filled 0"; it is asked again and its real fills are booked."""
    world.sim.faults.bad_replies = (BadReply("GET /api/v3/order", kind, first=2),)
    with logged() as lines:
        order = await world.buy()
    assert order.status is OrderState.FILLED and order.filled_qty == Decimal(200)
    assert world.sim.bad_reply_seen["GET /api/v3/order"] > 2  # asked again after the lies
    assert [line for line in lines if "GET /api/v3/order" in line and "executedQty" in line]
    fills = await assert_books_match_exchange(world.sim, world.redis_url)
    assert sum(f.qty for f in fills) == Decimal(200)


async def test_a_trade_row_at_100_times_its_price_is_not_booked(world: World) -> None:
    """GET /api/v3/myTrades answers its rows at 100 times their price once: nothing of it is
    booked, the log names the endpoint, the field and the value; the truthful answer is."""
    world.sim.faults.bad_replies = (BadReply("GET /api/v3/myTrades", "price_x100", first=1),)
    with logged() as lines:
        order = await world.buy()
    assert order.status is OrderState.FILLED and order.filled_qty == Decimal(200)
    assert world.sim.bad_reply_seen["GET /api/v3/myTrades"] > 1
    true_price = world.sim.my_trades("QRLUSDT")[0]["price"]
    lie = str(Decimal(str(true_price)) * 100)
    assert [line for line in lines if "GET /api/v3/myTrades" in line and "price" in line
            and lie in line], lines
    fills = await assert_books_match_exchange(world.sim, world.redis_url)
    assert sum(f.qty for f in fills) == Decimal(200)
    assert {f.price for f in fills} == {Decimal(str(true_price))}


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_a_consistent_trade_row_at_100_times_the_market_is_not_booked(
        world: World, side: Side) -> None:
    """GET /api/v3/myTrades answers once with price AND quoteQty x100 (a row consistent in
    itself, so the quote check cannot see it). A BUY's row is beyond its limit, a SELL's is
    not: both are refused by the price band around the order's own price (not "contradictory
    facts" that block every decision, never booked), logged with endpoint, field and value,
    and asked again; the truthful answer is booked."""
    world.sim.faults.bad_replies = (BadReply("GET /api/v3/myTrades", "price_quote_x100",
                                             first=1),)
    with logged() as lines:
        order = await world.buy(side=side)
    assert order.status is OrderState.FILLED and order.filled_qty == Decimal(200), lines
    assert world.sim.bad_reply_seen["GET /api/v3/myTrades"] > 1
    true_price = Decimal(str(world.sim.my_trades("QRLUSDT")[0]["price"]))
    lie = f"field price value {fmt(true_price * 100)} is"
    assert [line for line in lines if "GET /api/v3/myTrades" in line and "price" in line
            and lie in line], lines
    assert not [line for line in lines if "contradictory" in line]
    fills = await assert_books_match_exchange(world.sim, world.redis_url)
    assert {f.price for f in fills} == {true_price}
