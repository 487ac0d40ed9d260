"""One bad message or a refused subscription never silences a stream (issue 12, section 3):
the daemon's UserFeed and MarketFeed against the simulator over real websockets.

- a deal push with a negative quantity, an order push filled beyond its quantity, and an
  order push whose handling raises a domain error are each logged and skipped, the order is
  asked about again, and the next good push is processed on the same connection;
- a subscription refused twice ("Blocked!") is retried with backoff inside the stream (its
  task never dies) and candles arrive afterwards;
- a subscription that stays refused makes the health check name the stream and the refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from daemon.adapters.mexc.proto import mexc_push_pb2 as pb
from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsTimings
from daemon.domain.candles import ClosedCandle
from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.errors import OrderConflict
from daemon.runtime.balances import UserFeed
from daemon.runtime.health import HealthCheck
from daemon.runtime.market_feed import MarketFeed
from daemon.runtime.supervisor import RestartPolicy, Supervisor
from daemon.sim import SimConfig, Simulator
from daemon.sim.push import CH_DEALS, CH_ORDERS
from tests.support.sim_settings import creds_for, settings_for

FAST = WsTimings(ping_interval_s=0.05, stale_after_s=0.3, backoff_initial_s=0.02,
                 backoff_max_s=0.1, ack_timeout_s=0.3, open_timeout_s=0.3)
# a task that dies twice is given up on (the daemon would exit): the stream must not die
STRICT = RestartPolicy(backoff_initial_s=0.01, backoff_max_s=0.02, max_deaths=2, window_s=60)


async def _until(cond: Callable[[], bool], timeout_s: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


def _deal_frame(coid: str, qty: str, trade_id: str) -> bytes:
    msg = pb.PushDataV3ApiWrapper(channel=CH_DEALS, symbol="QRLUSDT", sendTime=1)
    d = msg.privateDeals
    d.price, d.quantity, d.amount = "0.05", qty, str(Decimal("0.05") * Decimal(qty))
    d.tradeType, d.tradeId, d.clientOrderId, d.orderId = 1, trade_id, coid, f"o-{coid}"
    d.feeAmount, d.feeCurrency, d.time = "0", "USDT", 1
    return msg.SerializeToString()


def _order_frame(coid: str, qty: str, executed: str) -> bytes:
    msg = pb.PushDataV3ApiWrapper(channel=CH_ORDERS, symbol="QRLUSDT", sendTime=1)
    o = msg.privateOrders
    o.id, o.clientId, o.price, o.quantity = f"o-{coid}", coid, "0.05", qty
    o.cumulativeQuantity, o.cumulativeAmount = executed, "1"
    o.orderType, o.tradeType, o.status, o.createTime = 1, 1, 3, 1
    return msg.SerializeToString()


async def test_bad_private_pushes_are_skipped_and_the_stream_goes_on(
        msim: Simulator, rest: MexcRest) -> None:
    orders: list[OrderReport] = []
    fills: list[Fill] = []
    asked: list[str] = []

    async def on_order(o: OrderReport) -> None:
        if o.client_order_id == "conflict-3":  # what the ledger raises on contradicting facts
            raise OrderConflict("conflict-3: report side BUY but the order is SELL")
        orders.append(o)

    async def on_fill(f: Fill) -> None:
        fills.append(f)

    async def on_recheck(coid: str) -> None:
        asked.append(coid)

    supervisor = Supervisor(STRICT)
    feed = UserFeed(settings_for(msim), rest, on_order=on_order, on_fill=on_fill,
                    on_recheck=on_recheck, timings=FAST, keepalive_s=3600, refresh_s=3600,
                    supervisor=supervisor)
    await feed.start()
    try:
        await asyncio.wait_for(feed.stream.connected.wait(), 5)
        assert msim.hub.inject(CH_DEALS, _deal_frame("bad-1", "-5", "t-bad-1")) == 1
        assert msim.hub.inject(CH_ORDERS, _order_frame("bad-2", "10", "11")) == 1
        assert msim.hub.inject(CH_ORDERS, _order_frame("conflict-3", "10", "1")) == 1
        assert msim.hub.inject(CH_DEALS, _deal_frame("good-0", "5", "t-good-0")) == 1
        await _until(lambda: bool(fills))
        placed = await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="good-1",
                                        quote_order_qty=Decimal("30"))
        await _until(lambda: any(o.status is OrderStatus.FILLED for o in orders)
                     and len(fills) >= 2)
    finally:
        await feed.stop()
    assert fills[0].client_order_id == "good-0" and fills[0].qty == Decimal(5)
    assert {f.order_id for f in fills[1:]} == {placed.order_id}
    assert all(f.qty > 0 for f in fills)
    assert {o.client_order_id for o in orders} == {"good-1"}
    assert asked == ["bad-1", "bad-2", "conflict-3"]
    assert feed.bad_frames == 3
    stats = feed.stream.stats
    assert stats.connects == 1 and stats.reconnects == 0  # the same connection went on
    assert supervisor.gave_up is None and all(u.deaths == 0 for u in supervisor.units)


async def _market(sim: Simulator, supervisor: Supervisor,
                  candles: list[ClosedCandle]) -> tuple[MexcRest, MarketFeed]:
    settings = settings_for(sim)
    rest = MexcRest(settings.exchange, creds_for(sim), backoff_first_s=0.01,
                    backoff_max_s=0.02)
    await rest.start()

    async def on_candle(c: ClosedCandle) -> None:
        candles.append(c)

    feed = MarketFeed(settings, rest, on_candle=on_candle, timings=FAST, backfill=40,
                      poll_interval_s=3600, supervisor=supervisor)
    return rest, feed


async def test_a_subscription_refused_twice_is_retried_and_candles_arrive() -> None:
    async with Simulator(SimConfig(seed=7, speed=1200.0), port=0) as sim:
        sim.faults.ws_refused_subscriptions = 2
        supervisor = Supervisor(STRICT)
        candles: list[ClosedCandle] = []
        rest, feed = await _market(sim, supervisor, candles)
        await feed.start()
        try:
            await _until(lambda: feed.stats.closed_from_stream >= 2, 8)
        finally:
            await feed.stop()
            await rest.close()
    stats = feed.stream.stats
    assert stats.refusals == 2 and stats.connects >= 1
    assert any("Blocked!" in f for f in stats.failures)
    assert supervisor.gave_up is None and all(u.deaths == 0 for u in supervisor.units)
    assert len(candles) >= 2


async def test_a_subscription_that_stays_refused_makes_the_daemon_unhealthy() -> None:
    async with Simulator(SimConfig(seed=7, speed=60.0), port=0) as sim:
        sim.faults.ws_refused_subscriptions = 10**9
        supervisor = Supervisor(STRICT)
        rest, feed = await _market(sim, supervisor, [])
        health = HealthCheck()
        await feed.start()
        try:
            assert health.problem([feed.stream], None, 600) is None  # not yet: within limit
            await _until(lambda: health.problem([feed.stream], None, 600) is not None, 6)
            problem = health.problem([feed.stream], None, 600) or ""
            assert feed.running  # still trying: never given up
        finally:
            await feed.stop()
            await rest.close()
    assert problem.startswith("market QRLUSDT down for ")
    assert "spot@public.kline.v3.api.pb@QRLUSDT@Min5 refused" in problem
    assert "Blocked!" in problem
    assert feed.stream.stats.refusals >= 3 and feed.stream.stats.connects == 0
    assert supervisor.gave_up is None
