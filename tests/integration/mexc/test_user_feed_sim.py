"""UserFeed against the simulator: balances from REST then kept by account pushes, orders and
fills from the private stream, listenKey keepalive failure -> new key + reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsTimings
from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.runtime.market_feed import UserFeed
from daemon.sim import Simulator
from tests.support.sim_settings import settings_for

FAST = WsTimings(ping_interval_s=0.05, stale_after_s=0.5, backoff_initial_s=0.02,
                 backoff_max_s=0.1, ack_timeout_s=0.5)


async def _until(cond: Callable[[], bool], timeout_s: float = 5) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_user_feed_follows_orders_fills_and_balances(msim: Simulator,
                                                           rest: MexcRest) -> None:
    orders: list[OrderReport] = []
    fills: list[Fill] = []

    async def on_order(o: OrderReport) -> None:
        orders.append(o)

    async def on_fill(f: Fill) -> None:
        fills.append(f)

    feed = UserFeed(settings_for(msim), rest, on_order=on_order, on_fill=on_fill, timings=FAST,
                    keepalive_s=3600, refresh_s=3600)
    await feed.start()
    try:
        assert feed.balances["USDT"].free == Decimal(500) and feed.refreshes == 1
        await asyncio.wait_for(feed.stream.connected.wait(), 5)
        placed = await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="uf-1",
                                        quote_order_qty=Decimal("50"))
        await _until(lambda: any(o.status is OrderStatus.FILLED for o in orders) and bool(fills))
        assert {o.order_id for o in orders} == {placed.order_id}
        assert all(f.order_id == placed.order_id for f in fills)
        truth = msim.balances()
        await _until(lambda: feed.balances["QRL"].free == truth["QRL"][0])
        assert feed.balances["USDT"].free == truth["USDT"][0]
        assert feed.balances["QRL"].free > Decimal(10000)

        # the listenKey dies on the exchange: keepalive fails, a new key is made, the stream
        # reconnects with it and pushes flow again
        old = feed.listen_key
        assert old is not None
        del msim.listen_keys[old]
        await feed.keepalive()
        assert feed.listen_key != old and feed.keys_created == 2
        assert msim.listen_key_valid(feed.listen_key or "")
        await _until(lambda: feed.stream.stats.reconnects >= 1 and feed.stream.connected.is_set())
        await _until(lambda: feed.refreshes >= 2)  # balances re-read after the reconnect
        n = len(fills)
        await rest.place_order("QRLUSDT", Side.SELL, "MARKET", client_order_id="uf-2",
                               quantity=Decimal("100"))
        await _until(lambda: len(fills) > n)
        assert fills[-1].side is Side.SELL
        await feed.keepalive()  # a healthy key is just extended
        assert feed.keepalives == 1
    finally:
        await feed.stop()
    assert feed.listen_key is None and not msim.listen_key_valid(old)


async def test_expired_key_on_reconnect_gets_replaced(msim: Simulator, rest: MexcRest) -> None:
    feed = UserFeed(settings_for(msim), rest, timings=FAST, keepalive_s=3600, refresh_s=3600)
    await feed.start()
    try:
        await asyncio.wait_for(feed.stream.connected.wait(), 5)
        first = feed.listen_key
        assert first is not None
        msim.listen_keys[first] = 0.0  # expired: the server closes and refuses the key
        msim.drop_websockets()
        await _until(lambda: feed.listen_key != first and feed.stream.connected.is_set())
        assert msim.listen_key_valid(feed.listen_key or "")
    finally:
        await feed.stop()


async def test_duplicate_deal_pushes_reach_on_fill_once(msim: Simulator, rest: MexcRest) -> None:
    fills: list[Fill] = []

    async def on_fill(f: Fill) -> None:
        fills.append(f)

    msim.faults.push_duplicate_rate = 1.0
    feed = UserFeed(settings_for(msim), rest, on_fill=on_fill, timings=FAST,
                    keepalive_s=3600, refresh_s=3600)
    await feed.start()
    try:
        await asyncio.wait_for(feed.stream.connected.wait(), 5)
        await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="uf-3",
                               quote_order_qty=Decimal("30"))
        await _until(lambda: bool(fills))
        await asyncio.sleep(0.2)
    finally:
        await feed.stop()
    trades = await rest.my_trades("QRLUSDT")
    push_id = dict(msim.trade_ids("QRLUSDT"))  # REST id -> push id: one fill, two ids
    assert sorted(f.trade_id for f in fills) == sorted(push_id[t.trade_id] for t in trades)
    assert not {f.trade_id for f in fills} & {t.trade_id for t in trades}  # never equal here


async def test_push_during_a_rest_refresh_wins_over_the_older_snapshot(
        msim: Simulator, rest: MexcRest) -> None:
    from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper

    feed = UserFeed(settings_for(msim), rest, timings=FAST, keepalive_s=3600, refresh_s=3600)
    await feed.refresh_balances()
    assert feed.balances["USDT"].free == Decimal(500)
    push = PushDataV3ApiWrapper(channel="spot@private.account.v3.api.pb", sendTime=1)
    push.privateAccount.vcoinName = "USDT"
    push.privateAccount.balanceAmount = "123.5"
    push.privateAccount.frozenAmount = "7"
    push.privateAccount.type = "ENTRUST_PLACE"
    refresh = asyncio.create_task(feed.refresh_balances())
    await asyncio.sleep(0)  # the REST request is in flight
    await feed._on_push(push.SerializeToString())
    await refresh
    assert (feed.balances["USDT"].free, feed.balances["USDT"].locked) == \
           (Decimal("123.5"), Decimal(7))
    assert feed.balances["QRL"].free == Decimal(10000)  # the rest of the snapshot applies
    await feed.refresh_balances()  # a later snapshot is the truth again
    assert feed.balances["USDT"].free == Decimal(500)
