"""The simulator's websocket over real connections: acks, PONG, kline and private pushes,
MEXC's connection rules."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from daemon.sim import ExtraSymbol, ReplayMarket, SimConfig, Simulator
from daemon.sim.symbols import basket_config
from tests.support.sim_client import Client, collect, next_frame

KLINE_MIN1 = "spot@public.kline.v3.api.pb@QRLUSDT@Min1"
PRIVATE = ["spot@private.account.v3.api.pb", "spot@private.orders.v3.api.pb",
           "spot@private.deals.v3.api.pb"]


def _pushes(items: list[Any]) -> list[Any]:
    return [i for i in items if hasattr(i, "channel")]


async def test_ack_ping_pong_and_refusals(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIPTION", "params": [KLINE_MIN1]})
        assert await next_frame(ws) == {"id": 0, "code": 0, "msg": KLINE_MIN1}
        for method in ("ping", "PING"):
            await ws.send_json({"method": method})
            while (item := await next_frame(ws)) and not isinstance(item, dict):
                pass  # skip kline pushes
            assert item == {"id": 0, "code": 0, "msg": "PONG"}
        old = "spot@public.kline.v3.api@QRLUSDT@Min1"
        bad = ["spot@public.kline.v3.api.pb@qrlusdt@Min1",
               "spot@public.kline.v3.api.pb@QRLUSDT@Min2", PRIVATE[0]]
        await ws.send_json({"method": "SUBSCRIPTION", "params": [old, *bad]})
        acks = [i for i in await collect(ws, 0.5) if isinstance(i, dict)]
        assert [a["msg"].split("]")[0] for a in acks] == [
            f"Not Subscribed successfully! [{c}" for c in [old, *bad]]
        assert acks[0]["msg"].endswith("Reason： Blocked! ")
        await ws.send_json({"method": "UNSUBSCRIPTION", "params": [KLINE_MIN1]})
        items = await collect(ws, 0.5)
        assert {"id": 0, "code": 0, "msg": KLINE_MIN1} in items
        idx = items.index({"id": 0, "code": 0, "msg": KLINE_MIN1})
        assert _pushes(items[idx + 1:]) == []


async def test_kline_pushes_match_rest_klines(client: Client) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(client.sim.ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIPTION", "params": [KLINE_MIN1]})
        pushes = _pushes(await collect(ws, 2.2))  # 132 simulated seconds
    assert len(pushes) > 40
    starts = [p.publicSpotKline.windowStart for p in pushes]
    assert starts == sorted(starts) and len(set(starts)) >= 2
    for p in pushes:
        k = p.publicSpotKline
        assert p.channel == KLINE_MIN1 and p.symbol == "QRLUSDT" and p.symbolId
        assert k.interval == "Min1" and k.windowStart % 60 == 0
        assert k.windowEnd == k.windowStart + 60
    # the last push of a window is that candle's final state, as REST reports it
    finals = [p for p, nxt in itertools.pairwise(pushes)
              if nxt.publicSpotKline.windowStart > p.publicSpotKline.windowStart]
    _, rows = await client.public("klines", symbol="QRLUSDT", interval="1m", limit=10)
    by_open = {r[0]: r for r in rows}
    for p in finals:
        k = p.publicSpotKline
        row = by_open[k.windowStart * 1000]
        assert [k.openingPrice, k.highestPrice, k.lowestPrice, k.closingPrice, k.volume,
                k.amount] == [*row[1:6], row[7]]


async def test_subscription_limit_30() -> None:
    extra = tuple(ExtraSymbol(f"X{i}USDT", f"X{i}", "USDT") for i in range(3))
    intervals = ["Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Hour8", "Day1", "Week1",
                 "Month1"]
    channels = [f"spot@public.kline.v3.api.pb@{s}@{i}"
                for s in ("QRLUSDT", "X0USDT", "X1USDT", "X2USDT") for i in intervals]
    async with Simulator(SimConfig(seed=2, extra_symbols=extra)) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIPTION", "params": channels[:31]})
        acks = [i for i in await collect(ws, 0.5) if isinstance(i, dict)]
        assert acks[0]["msg"] == ",".join(channels[:30])
        assert acks[1]["msg"].startswith(f"Not Subscribed successfully! [{channels[30]}]")
        assert "30 subscriptions" in acks[1]["msg"]


async def test_the_31st_subscription_of_a_connection_is_refused_and_silent() -> None:
    """MEXC: at most 30 subscriptions per connection, counted over every message; the ones
    beyond are refused (code 0, "Not Subscribed successfully! [a,b]") and push nothing; an
    UNSUBSCRIPTION frees a place. Several symbols make the 30 (basket preset)."""
    intervals = ["Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Hour8", "Day1", "Week1",
                 "Month1"]
    klines = [f"spot@public.kline.v3.api.pb@{s}@{i}"
              for s in ("QRLUSDT", "BTCUSDT", "ETHUSDT") for i in intervals]
    book = "spot@public.aggre.bookTicker.v3.api.pb@100ms@"
    extra = [f"{book}BTCUSDT", f"{book}ETHUSDT"]
    async with Simulator(basket_config(seed=4)) as sim, aiohttp.ClientSession() as s, \
            s.ws_connect(sim.ws_url) as ws:
        for part in (klines[:10], klines[10:20], klines[20:]):
            await ws.send_json({"method": "SUBSCRIPTION", "params": part})
            acks = [i for i in await collect(ws, 0.3) if isinstance(i, dict)]
            assert acks == [{"id": 0, "code": 0, "msg": ",".join(part)}]
        # one already held (acked again, not counted twice) and two beyond the 30
        await ws.send_json({"method": "SUBSCRIPTION", "params": [klines[0], *extra]})
        items = await collect(ws, 1.0)
        acks = [i["msg"] for i in items if isinstance(i, dict)]
        assert acks == [klines[0], f"Not Subscribed successfully! [{','.join(extra)}].  "
                                   "Reason： more than 30 subscriptions "]
        assert not [p for p in _pushes(items) if p.channel in extra]
        await ws.send_json({"method": "UNSUBSCRIPTION", "params": [klines[-1]]})
        await ws.send_json({"method": "SUBSCRIPTION", "params": extra[:1]})
        items = await collect(ws, 1.0)
        assert {"id": 0, "code": 0, "msg": extra[0]} in items
        assert [p.symbol for p in _pushes(items) if p.channel == extra[0]][:1] == ["BTCUSDT"]


async def test_invalid_listen_key_text_frame(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "?listenKey=nope") as ws:
        assert await next_frame(ws) == "Invalid listen key"
        closing = await ws.receive(timeout=2)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_private_pushes_for_a_fill(client: Client) -> None:
    sim = client.sim
    _, body = await client.signed("POST", "userDataStream")
    url = f"{sim.ws_url}?listenKey={body['listenKey']}"
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        await ws.send_json({"method": "SUBSCRIPTION", "params": PRIVATE})
        assert (await next_frame(ws))["msg"] == ",".join(PRIVATE)
        sim.pause()
        status, placed = await client.order(symbol="QRLUSDT", side="SELL", type="MARKET",
                                            quantity="1000", newClientOrderId="sell-1")
        assert status == 200
        pushes = _pushes(await collect(ws, 0.7))
    by_kind: dict[str, list[Any]] = {}
    for p in pushes:
        by_kind.setdefault(p.WhichOneof("body"), []).append(p)
    _, trades = await client.signed("GET", "myTrades", symbol="QRLUSDT")
    deals = by_kind["privateDeals"]
    push_id = dict(sim.trade_ids("QRLUSDT"))  # REST id -> push id: distinct on the real MEXC
    assert [d.privateDeals.tradeId for d in deals] == [push_id[t["id"]] for t in trades]
    assert all(d.privateDeals.tradeId.endswith("X1") for d in deals[:1])
    for d, t in zip(deals, trades, strict=True):
        pd = d.privateDeals
        assert d.symbol == "QRLUSDT" and pd.orderId == placed["orderId"]
        assert (pd.price, pd.quantity, pd.feeAmount, pd.feeCurrency, pd.clientOrderId) == (
            t["price"], t["qty"], t["commission"], "USDT", "sell-1")
    orders = [o.privateOrders for o in by_kind["privateOrders"]]
    assert orders[0].status == 1 and orders[-1].status == 2
    assert orders[-1].cumulativeQuantity == "1000" and orders[-1].id == placed["orderId"]
    assert orders[-1].orderType == 5 and orders[-1].tradeType == 2
    avg = Decimal(orders[-1].cumulativeAmount) / 1000
    assert Decimal(orders[-1].avgPrice) == avg
    last = {}
    for a in by_kind["privateAccount"]:
        last[a.privateAccount.vcoinName] = a.privateAccount
    free_qrl, _ = sim.balances()["QRL"]
    free_usdt, _ = sim.balances()["USDT"]
    assert Decimal(last["QRL"].balanceAmount) == free_qrl == Decimal(9000)
    assert Decimal(last["USDT"].balanceAmount) == free_usdt
    assert {a.privateAccount.type for a in by_kind["privateAccount"]} >= {"ENTRUST_PLACE",
                                                                         "ENTRUST"}


async def test_idle_rules_close_connections() -> None:
    cfg = SimConfig(seed=1, ws_no_sub_timeout_s=0.4, ws_idle_timeout_s=0.6)
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url) as ws:
            t0 = time.monotonic()
            items = await collect(ws, 3)
            assert isinstance(items[-1], aiohttp.WSMessage) and 0.3 < time.monotonic() - t0 < 2
        async with s.ws_connect(sim.ws_url) as ws:
            await ws.send_json({"method": "SUBSCRIPTION", "params": [KLINE_MIN1]})
            t0 = time.monotonic()
            for _ in range(6):  # pinging keeps it open
                await ws.send_json({"method": "PING"})
                items = await collect(ws, 0.2)
                assert not any(isinstance(i, aiohttp.WSMessage) for i in items)
            items = await collect(ws, 3)  # silence: closed after the idle timeout
            assert isinstance(items[-1], aiohttp.WSMessage)


async def test_replay_gap_has_no_row_and_no_push(shared_data: Path) -> None:
    market = ReplayMarket(path=shared_data / "TRX_BTC-5m.csv", rescale="500",
                          start_index=3604)
    gap_s = 1516641600
    async with Simulator(SimConfig(seed=1, speed=300, market=market)) as sim:
        assert sim.now_ms() // 1000 - 1516641300 < 5  # time starts at candle 3604's open
        async with aiohttp.ClientSession() as s:
            client = Client(sim, s)
            async with s.ws_connect(sim.ws_url) as ws:
                await ws.send_json({"method": "SUBSCRIPTION",
                                    "params": ["spot@public.kline.v3.api.pb@QRLUSDT@Min5"]})
                pushes = _pushes(await collect(ws, 2.4))
            _, rows = await client.public("klines", symbol="QRLUSDT", interval="5m", limit=5)
    starts = {p.publicSpotKline.windowStart for p in pushes}
    assert 1516641300 in starts and gap_s + 300 in starts and gap_s not in starts
    assert [r[0] // 1000 for r in rows][-3:] == [1516641000, 1516641300, gap_s + 300]
    assert Decimal(rows[-2][4]) == Decimal("0.00009") * 500  # the file's close, rescaled


async def test_listen_key_expiry_closes_private_stream() -> None:
    cfg = SimConfig(seed=1, listen_key_ttl_s=0.6)
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as s:
        client = Client(sim, s)
        key = (await client.signed("POST", "userDataStream"))[1]["listenKey"]
        async with s.ws_connect(f"{sim.ws_url}?listenKey={key}") as ws:
            await ws.send_json({"method": "SUBSCRIPTION", "params": PRIVATE})
            assert (await next_frame(ws))["msg"] == ",".join(PRIVATE)
            await ws.send_json({"method": "PING"})  # keep-alive traffic is not enough
            items = await collect(ws, 3)
            assert isinstance(items[-1], aiohttp.WSMessage)
        status, err = await client.signed("PUT", "userDataStream", listenKey=key)
        assert status == 400 and "expired" in err["msg"]
        async with s.ws_connect(f"{sim.ws_url}?listenKey={key}") as ws:
            assert await next_frame(ws) == "Invalid listen key"


async def test_too_many_client_messages_disconnects() -> None:
    async with Simulator(SimConfig(seed=1, ws_max_msgs_per_s=5)) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        for _ in range(8):
            await ws.send_json({"method": "PING"})
        items = await collect(ws, 2)
        assert items.count({"id": 0, "code": 0, "msg": "PONG"}) <= 5
        assert isinstance(items[-1], aiohttp.WSMessage)


async def test_book_ticker_and_public_deals_channels(client: Client) -> None:
    sim = client.sim
    book = "spot@public.aggre.bookTicker.v3.api.pb@100ms@QRLUSDT"
    deals = "spot@public.aggre.deals.v3.api.pb@10ms@QRLUSDT"
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIPTION", "params": [book, deals]})
        assert (await next_frame(ws))["msg"] == f"{book},{deals}"
        sim.pause()
        await collect(ws, 0.2)
        _, top = await client.public("ticker/bookTicker", symbol="QRLUSDT")
        pushes = _pushes(await collect(ws, 0.5))
        assert 2 <= len(pushes) <= 7  # the 100ms channel: at most about 10 a second
        b = pushes[-1].publicAggreBookTicker
        assert (b.bidPrice, b.bidQuantity, b.askPrice, b.askQuantity) == (
            top["bidPrice"], top["bidQty"], top["askPrice"], top["askQty"])
        await client.order(symbol="QRLUSDT", side="BUY", type="MARKET", quoteOrderQty="20")
        tape = [p for p in _pushes(await collect(ws, 0.3)) if p.channel == deals]
    trades = sim.my_trades("QRLUSDT")
    push_id = dict(sim.trade_ids("QRLUSDT"))  # the tape names a fill as the deals push does
    assert [(d.price, d.quantity, d.tradeType, d.tradeId) for p in tape
            for d in p.publicAggreDeals.deals] == [
        (t["price"], t["qty"], 1, push_id[t["id"]]) for t in trades]
