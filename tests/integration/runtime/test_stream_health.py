"""The real engine against the simulator and a real Redis: websockets whose subscriptions stay
refused ("Blocked!") keep retrying inside their streams (no task dies), and the engine's
health (what feeds the systemd watchdog) and status line name each stream and the refusal; once
the exchange accepts again the daemon is healthy without a restart (issue 12, section 3)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from decimal import Decimal as D
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from daemon.adapters.mexc.proto import mexc_push_pb2 as pb
from daemon.adapters.mexc.rest import MexcRest
from daemon.config import parse_settings
from daemon.domain.models import Candle
from daemon.runtime.market_feed import MarketFeed
from daemon.sim import SimConfig, Simulator
from daemon.sim.market import Bar
from daemon.sim.push import CH_ORDERS, kline_frame
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

HEARTBEAT = "bot:QRLUSDT:heartbeat"
FAST_WS = {"request_timeout_ms": 500, "ws_ping_interval_s": 0.2, "ws_stale_after_s": 0.5,
           "ws_reconnect_max_backoff_s": 0.2}


async def test_streams_that_stay_refused_make_the_engine_unhealthy_until_accepted(
        redis_url: str, redis_client: aioredis.Redis) -> None:
    async with Simulator(SimConfig(seed=3)) as sim:
        settings = e2e_settings(sim, redis_url, exchange=FAST_WS,
                                schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            streams = [engine.market.stream, *(f.stream for f in engine.user_feeds)]
            await wait_for(lambda: all(s.connected.is_set() for s in streams), 5, "streams")
            assert engine.health() is None
            sim.faults.ws_refused_subscriptions = 10**9
            sim.drop_websockets()
            await wait_for(lambda: "user stream" in (engine.health() or ""), 8, "unhealthy")
            problem = engine.health() or ""
            status = engine.status_line()
            beats: list[dict[str, object]] = []
            for _ in range(40):  # the heartbeat in Redis says it too (``status`` shows it)
                beats.append(orjson.loads(await redis_client.get(HEARTBEAT) or b"{}"))
                if "Blocked!" in str(beats[-1].get("health")):
                    break
                await asyncio.sleep(0.1)
            assert all(u.deaths == 0 for u in engine.supervisor.units)
            sim.faults.ws_refused_subscriptions = 0
            await wait_for(lambda: engine.health() is None, 5, "healthy again")
            assert "UNHEALTHY" not in engine.status_line()
    assert "market QRLUSDT down for " in problem and "user stream down for " in problem
    assert problem.count("refused: 'Not Subscribed successfully! [") == 2
    assert problem.count("Blocked!") == 2
    assert "; UNHEALTHY: market QRLUSDT down for " in status and "Blocked!" in status
    assert all(s.stats.refusals >= 2 for s in streams)
    beat = str(beats[-1].get("health"))
    assert "market QRLUSDT down for " in beat and "Blocked!" in beat


def _overfilled_push(order: dict[str, Any]) -> bytes:
    msg = pb.PushDataV3ApiWrapper(channel=CH_ORDERS, symbol="QRLUSDT", sendTime=1)
    o = msg.privateOrders
    o.id, o.clientId, o.price = order["orderId"], order["clientOrderId"], order["price"]
    o.quantity = order["origQty"]
    o.cumulativeQuantity = str(Decimal(order["origQty"]) * 2)  # filled twice over: untrue
    o.cumulativeAmount, o.orderType, o.tradeType, o.status = "1", 1, 1, 2
    o.createTime = order["time"]
    return msg.SerializeToString()


async def test_an_impossible_order_push_is_skipped_and_the_order_asked_about(
        redis_url: str) -> None:
    balances = {"QRL": "20000", "USDT": "200"}  # unbalanced: the start trades once
    async with Simulator(SimConfig(seed=4, speed=60.0, balances=balances)) as sim:
        settings = e2e_settings(sim, redis_url, exchange=FAST_WS)
        async with running_engine(settings, sim_creds(sim)) as engine:
            await wait_for(lambda: bool(sim.orders()), 10, "an order")
            engine.scheduler.reschedule(3600)  # no further evaluation
            await wait_for(lambda: engine.executor.in_flight is None
                           and engine.scheduler.running_s() is None, 10, "the order to end")
            order = sim.orders()[0]
            known = engine.ledger.orders[order["clientOrderId"]]
            feed = engine.user_feeds[0]
            await asyncio.sleep(0.3)
            before = sim.stats["requests"]
            await asyncio.sleep(0.5)
            assert sim.stats["requests"] == before  # quiet: nothing else asks REST now
            assert sim.hub.inject(CH_ORDERS, _overfilled_push(order)) == 1
            await wait_for(lambda: feed.bad_frames == 1, 3, "the push to be skipped")
            await wait_for(lambda: sim.stats["requests"] > before, 3, "the order query")
            after = engine.ledger.orders[order["clientOrderId"]]
            assert feed.stream.stats.reconnects == 0 and feed.stream.connected.is_set()
    assert after.filled_qty == known.filled_qty == Decimal(order["executedQty"])


async def test_a_market_subscription_gone_silent_is_reconnected_then_unhealthy(
        redis_url: str) -> None:
    """The connection still answers PING, but no push arrives: the market stream reconnects
    after ``exchange.ws_data_stale_after_s``, and once REST shows trades in a window it never
    pushed, the engine is unhealthy (what feeds the systemd watchdog); pushes again: healthy
    without a restart. Before, a silent subscription was never noticed (the PONGs kept the
    connection 'alive')."""
    async with Simulator(SimConfig(seed=3, speed=60.0)) as sim:  # a 5-minute candle in 5 s
        settings = e2e_settings(sim, redis_url, exchange={**FAST_WS,
                                                          "ws_data_stale_after_s": 1.0},
                                schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            stream = engine.market.stream
            await wait_for(lambda: stream.connected.is_set(), 5, "the market stream")
            await wait_for(lambda: engine.health() is None, 5, "healthy")
            sim.faults.ws_mute_pushes = True
            await wait_for(lambda: stream.stats.silent_drops >= 1, 5, "a silent drop")
            await wait_for(lambda: "pushed no data" in (engine.health() or ""), 15,
                           "unhealthy")
            problem = engine.health() or ""
            user_drops = [f.stream.stats.silent_drops for f in engine.user_feeds]
            sim.faults.ws_mute_pushes = False
            await wait_for(lambda: engine.health() is None, 8, "healthy again")
    assert problem.startswith("market QRLUSDT has pushed no data for "), problem
    assert "while REST shows trades (candle " in problem
    assert user_drops == [0]  # a private stream is silent while nothing happens: not watched
    assert all(u.deaths == 0 for u in engine.supervisor.units)


def test_a_quiet_market_without_trades_is_not_called_deaf() -> None:
    """No push for longer than the limit, but REST shows no trade after the last window
    pushed (a market may push nothing while nobody trades): healthy."""
    settings = parse_settings({"exchange": {"ws_data_stale_after_s": 0.05}})
    feed = MarketFeed(settings, cast(MexcRest, None))  # no request is made here
    window = 1_700_000_100_000
    bar = Bar(window, D("0.05"), D("0.05"), D("0.05"), D("0.05"), D("10"), D("0.5"))
    channel = "spot@public.kline.v3.api.pb@QRLUSDT@Min5"
    feed.ingest(kline_frame(channel, "QRLUSDT", "Min5", bar, window + 300_000, window))
    time.sleep(0.1)  # the stream's own clock: silent for longer than the limit

    def candle(open_ms: int, volume: str) -> Candle:
        return Candle(open_ms, D("0.05"), D("0.05"), D("0.05"), D("0.05"), D(volume),
                      open_ms + 300_000, D(volume) * D("0.05"))

    feed.note_rest_candles([candle(window - 300_000, "5"), candle(window, "10")])
    assert feed.deaf() is None  # trades only in windows the stream did push
    feed.note_rest_candles([candle(window + 300_000, "0")])
    assert feed.deaf() is None  # a later window without a trade: a quiet market
    feed.note_rest_candles([candle(window + 600_000, "3")])
    assert (feed.deaf() or "").startswith("market QRLUSDT has pushed no data for ")
