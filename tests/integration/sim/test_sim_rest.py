"""REST API of the simulator over real HTTP: shapes, signing rules, order lifecycle, errors."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
from yarl import URL

from daemon.adapters.mexc.auth import sign
from daemon.sim import ReplayMarket, SimConfig, Simulator
from tests.support.sim_client import Client

D = Decimal


async def test_public_basics(client: Client, sim: Simulator) -> None:
    assert await client.public("ping") == (200, {})
    before = sim.now_ms()
    status, body = await client.public("time")
    assert status == 200 and before <= body["serverTime"] <= sim.now_ms()  # simulated time
    status, info = await client.public("exchangeInfo", symbol="QRLUSDT")
    assert status == 200
    (sym,) = info["symbols"]
    assert sym["status"] == "1" and sym["isSpotTradingAllowed"] is True
    assert (sym["baseAssetPrecision"], sym["quoteAssetPrecision"]) == (2, 5)
    assert (sym["baseSizePrecision"], sym["quoteAmountPrecision"]) == ("0.01", "1")
    assert sym["takerCommission"] == "0.0005" and sym["makerCommission"] == "0"
    status, err = await client.public("exchangeInfo", symbol="NOPEUSDT")
    assert (status, err["code"]) == (400, -1121)


async def test_klines_all_intervals_rows_and_close_time(client: Client) -> None:
    sizes = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "4h": 14400,
             "1d": 86400}
    for interval, secs in sizes.items():
        status, rows = await client.public("klines", symbol="QRLUSDT", interval=interval,
                                           limit=3)
        assert status == 200, rows
        assert 1 <= len(rows) <= 3
        for row in rows:
            assert len(row) == 8
            assert isinstance(row[0], int) and isinstance(row[6], int)
            assert row[6] - row[0] == secs * 1000 and row[0] % (secs * 1000) == 0
            o, h, lo, c = (D(x) for x in row[1:5])
            assert lo <= min(o, c) <= max(o, c) <= h
    for interval in ("1W", "1M"):
        status, rows = await client.public("klines", symbol="QRLUSDT", interval=interval)
        assert status == 200 and rows and len(rows[-1]) == 8
    status, err = await client.public("klines", symbol="QRLUSDT", interval="1h")
    assert status == 400 and "interval" in err["msg"]
    status, err = await client.public("klines", symbol="QRLUSDT", interval="5m", limit=1001)
    assert status == 400 and "limit" in err["msg"]


async def test_klines_limit_and_aggregation_consistent(client: Client, sim: Simulator) -> None:
    sim.pause()
    status, rows5 = await client.public("klines", symbol="QRLUSDT", interval="5m", limit=1000)
    # 3000 one-minute candles of history = 600 closed 5m candles, then the forming one; the
    # real MEXC returns at most 500 rows whatever the limit: the newest 500
    assert status == 200 and len(rows5) == 500
    assert rows5[-1][0] == sim.now_ms() // 300_000 * 300_000
    assert [r[0] for r in rows5] == [rows5[0][0] + i * 300_000 for i in range(500)]
    closed = rows5[-3]
    status, rows1 = await client.public("klines", symbol="QRLUSDT", interval="1m",
                                        startTime=closed[0], endTime=closed[0] + 300_000)
    assert [r[0] for r in rows1] == [closed[0] + i * 60_000 for i in range(5)]
    assert rows1[0][1] == closed[1] and rows1[-1][4] == closed[4]
    assert max(D(r[2]) for r in rows1) == D(closed[2])
    assert min(D(r[3]) for r in rows1) == D(closed[3])
    assert sum(D(r[5]) for r in rows1) == D(closed[5])


async def test_tickers_and_depth(client: Client, sim: Simulator) -> None:
    sim.pause()
    _, price = await client.public("ticker/price", symbol="QRLUSDT")
    _, top = await client.public("ticker/bookTicker", symbol="QRLUSDT")
    _, book = await client.public("depth", symbol="QRLUSDT", limit=5)
    p = D(price["price"])
    assert D(top["bidPrice"]) < p < D(top["askPrice"])
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5
    assert book["asks"][0] == [top["askPrice"], top["askQty"]]
    assert all(D(a[0]) < D(b[0]) for a, b in zip(book["asks"], book["asks"][1:], strict=False))


async def test_limit_order_lifecycle(client: Client, sim: Simulator) -> None:
    sim.pause()
    price = sim.price()
    low = (price * D("0.8")).quantize(D("0.00001"))
    status, placed = await client.order(symbol="QRLUSDT", side="BUY", type="LIMIT",
                                        quantity="100", price=str(low), newClientOrderId="c-1")
    assert status == 200, placed
    assert placed["orderId"].startswith("C02__") and "code" not in placed
    assert placed["origQty"] == "100" and placed["type"] == "LIMIT"
    assert sim.balances()["USDT"] == (D(500) - 100 * low, 100 * low)
    _, by_id = await client.signed("GET", "order", symbol="QRLUSDT", orderId=placed["orderId"])
    by_cid = await client.order_by_client_id("QRLUSDT", "c-1")  # -2013 for a while first
    assert by_id == by_cid and by_id["status"] == "NEW" and by_id["clientOrderId"] == "c-1"
    _, open_orders = await client.signed("GET", "openOrders", symbol="QRLUSDT")
    assert [o["orderId"] for o in open_orders] == [placed["orderId"]]
    status, canceled = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                           origClientOrderId="c-1")
    assert status == 200 and canceled["orderId"] == placed["orderId"]
    if "status" in canceled:
        assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == "c-1"
    else:  # a minimal reply (PROTOCOL.md 9): the six fields only
        assert set(canceled) == {"symbol", "orderId", "price", "origQty", "type", "side"}
    _, after = await client.signed("GET", "order", symbol="QRLUSDT", orderId=placed["orderId"])
    assert after["status"] == "CANCELED"
    assert sim.balances()["USDT"] == (D(500), D(0))
    status, err = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                      orderId=placed["orderId"])
    assert (status, err["code"], err["msg"]) == (400, -2011, "Unknown order sent.")
    _, all_orders = await client.signed("GET", "allOrders", symbol="QRLUSDT")
    assert [o["status"] for o in all_orders] == ["CANCELED"]


async def test_market_buy_by_quote_fills_with_fees(client: Client, sim: Simulator) -> None:
    sim.pause()
    status, placed = await client.order(symbol="QRLUSDT", side="BUY", type="MARKET",
                                        quoteOrderQty="100", price="0.05")
    assert status == 200, placed
    _, order = await client.signed("GET", "order", symbol="QRLUSDT", orderId=placed["orderId"])
    assert order["status"] == "FILLED"
    _, trades = await client.signed("GET", "myTrades", symbol="QRLUSDT")
    qty = sum(D(t["qty"]) for t in trades)
    quote = sum(D(t["quoteQty"]) for t in trades)
    fee = sum(D(t["commission"]) for t in trades)
    assert D(order["executedQty"]) == qty and D(order["cummulativeQuoteQty"]) == quote
    assert D(100) - quote < D("0.06")  # the rest buys less than 0.01 QRL
    assert fee == qty * D("0.0005") and {t["commissionAsset"] for t in trades} == {"QRL"}
    assert all(t["isMaker"] is False for t in trades)
    assert [rest for rest, _ in sim.trade_ids("QRLUSDT")] == [t["id"] for t in trades]
    assert all(push.endswith("X1") for _, push in sim.trade_ids("QRLUSDT")[:1])
    assert sim.balances()["QRL"] == (D(10000) + qty - fee, D(0))
    assert sim.balances()["USDT"] == (D(500) - quote, D(0))


async def test_signing_errors(client: Client, sim: Simulator) -> None:
    status, err = await client.signed("GET", "account", secret="wrong")
    assert (status, err["code"]) == (400, 700002)
    assert err["msg"] == "Signature for this request is not valid."
    stale = int(time.time() * 1000) - 6000
    status, err = await client.signed("GET", "account", ts_ms=stale)
    assert (status, err["code"]) == (400, 700003)
    ok_window = await client.signed("GET", "account", ts_ms=stale, recv_window=10000)
    assert ok_window[0] == 200
    future = int(time.time() * 1000) + 1500
    assert (await client.signed("GET", "account", ts_ms=future))[1]["code"] == 700003
    status, err = await client.signed("GET", "account", recv_window=60001)
    assert (status, err["code"]) == (400, 700005)
    status, err = await client.signed("GET", "account", key="")
    assert (status, err["code"], err["msg"]) == (400, 400, "api key required")
    status, err = await client.signed("GET", "account", key="mx0other")
    assert (status, err["code"]) == (400, 10072)
    q = client.query({"symbol": "QRLUSDT"})
    status, err = await client.signed("GET", "openOrders", raw_query=q.split("&signature")[0])
    assert (status, err["code"]) == (400, 700004)  # the real MEXC's code for a missing one
    assert err["msg"].startswith("Mandatory parameter 'signature'")


async def test_signature_over_raw_query_with_odd_client_id(client: Client,
                                                           sim: Simulator) -> None:
    sim.pause()
    low = (sim.price() * D("0.8")).quantize(D("0.00001"))
    status, placed = await client.order(symbol="QRLUSDT", side="BUY", type="LIMIT",
                                        quantity="50", price=str(low),
                                        newClientOrderId="a b,c/d")
    assert status == 200, placed
    got = await client.order_by_client_id("QRLUSDT", "a b,c/d")
    assert got["orderId"] == placed["orderId"]


async def test_order_rejections(client: Client, sim: Simulator) -> None:
    sim.pause()
    sim.limiter.orders_per_s = None  # more than 12 orders in a second here
    base = {"symbol": "QRLUSDT", "side": "BUY", "type": "LIMIT", "price": "0.04"}
    cases = [
        ({**base, "quantity": "100.001"}, 400, " quantity scale is invalid"),
        ({**base, "quantity": "100", "price": "0.040001"}, 400, " price scale is invalid"),
        ({"symbol": "QRLUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "2.000000"},
         400, " amount scale is invalid"),
        ({**base, "quantity": "0.001"}, 400, None),
        ({**base, "quantity": "10"}, 30002, "The minimum transaction volume cannot be less "
                                            "than:1USDT"),
        ({**base, "quantity": "100000"}, 30004, "Insufficient position"),
        ({**base, "side": "SELL", "quantity": "20000"}, 30005, "Oversold"),
        ({**base, "quantity": "-1"}, 400, "price and quantity must be positive"),
        ({**base, "symbol": "BTCUSDT", "quantity": "1"}, -1121, "Invalid symbol."),
        ({**base, "side": "HOLD", "quantity": "100"}, 400, None),
        ({**base, "type": "STOP", "quantity": "100"}, 400, None),
        ({"symbol": "QRLUSDT", "side": "BUY", "type": "LIMIT", "quantity": "100"}, 44444,
         "param cannot be null: price"),
        ({**base, "quantity": "100", "price": "1"}, 30087, "Order price exceeds allowed range"),
        ({**base, "side": "SELL", "quantity": "2000", "price": "0.001"}, 30087, None),
        ({**base, "quantity": "60000000"}, 30003, "The maximum transaction volume cannot be "
                                                  "greater than:2000000USDT"),
        ({"symbol": "QRLUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100001"},
         30003, None),
    ]
    for params, code, msg in cases:
        status, err = await client.order(**params)
        assert status == 400 and err["code"] == code, (params, err)
        if msg is not None:
            assert err["msg"] == msg, (params, err)
    assert sim.balances()["USDT"] == (D(500), D(0)) and not sim.orders()
    assert [a.outcome.split(":")[0] for a in sim.order_requests] == ["rejected"] * len(cases)


async def test_duplicate_client_order_id_rejected(client: Client, sim: Simulator) -> None:
    sim.pause()
    params = {"symbol": "QRLUSDT", "side": "BUY", "type": "LIMIT", "quantity": "100",
              "price": "0.04", "newClientOrderId": "dup-1"}
    assert (await client.order(**params))[0] == 200
    status, err = await client.order(**params)
    assert (status, err["code"]) == (400, 603) and "dup-1" in err["msg"]
    assert len(sim.orders()) == 1


async def test_unknown_order_and_missing_ids(client: Client) -> None:
    status, err = await client.signed("GET", "order", symbol="QRLUSDT", orderId="C02__1")
    assert (status, err["code"], err["msg"]) == (400, -2013, "Order does not exist.")
    status, err = await client.signed("GET", "order", symbol="QRLUSDT")
    assert err["code"] == 700004


async def test_order_test_endpoint_validates_only(client: Client, sim: Simulator) -> None:
    status, body = await client.signed("POST", "order/test", symbol="QRLUSDT", side="BUY",
                                       type="LIMIT", quantity="100", price="0.04")
    assert (status, body) == (200, {})
    status, err = await client.signed("POST", "order/test", symbol="QRLUSDT", side="BUY",
                                      type="LIMIT", quantity="1.234", price="0.04")
    assert err["msg"] == " quantity scale is invalid"
    assert not sim.orders()


async def test_cancel_all_open_orders(client: Client, sim: Simulator) -> None:
    sim.pause()
    for i in range(3):
        await client.order(symbol="QRLUSDT", side="BUY", type="LIMIT", quantity="100",
                           price=f"0.04{i}")
    status, canceled = await client.signed("DELETE", "openOrders", symbol="QRLUSDT")
    assert status == 200 and [o["status"] for o in canceled] == ["CANCELED"] * 3
    assert (await client.signed("GET", "openOrders", symbol="QRLUSDT"))[1] == []


async def test_user_data_stream_keys(client: Client) -> None:
    status, body = await client.signed("POST", "userDataStream")
    key = body["listenKey"]
    assert status == 200 and len(key) == 64
    assert (await client.signed("GET", "userDataStream"))[1] == {"listenKey": [key]}
    assert (await client.signed("PUT", "userDataStream", listenKey=key))[1] == {"listenKey": key}
    assert (await client.signed("DELETE", "userDataStream", listenKey=key))[0] == 200
    status, err = await client.signed("PUT", "userDataStream", listenKey=key)
    assert status == 400 and "listenKey" in err["msg"]


async def test_rate_limit_429_with_retry_after() -> None:
    cfg = SimConfig(seed=1, weight_per_10s=20)
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as session:
        client = Client(sim, session)
        statuses = [(await client.public("exchangeInfo"))[0] for _ in range(3)]
        assert statuses == [200, 200, 429]
        async with session.get(f"{sim.rest_url}/api/v3/ping") as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert await r.json() == {"msg": "Too Many Requests", "code": 429, "_extend": None}


async def test_order_rate_cap(client: Client, sim: Simulator) -> None:
    sim.pause()
    codes = []
    for _ in range(14):
        status, _ = await client.order(symbol="QRLUSDT", side="BUY", type="LIMIT",
                                       quantity="30", price="0.04")
        codes.append(status)
    assert codes.count(429) >= 1 and codes[:12] == [200] * 12


async def test_more_market_endpoints(client: Client, sim: Simulator) -> None:
    sim.pause()
    status, t = await client.public("ticker/24hr", symbol="QRLUSDT")
    assert status == 200 and D(t["lastPrice"]) == sim.price()
    assert D(t["lowPrice"]) <= D(t["lastPrice"]) <= D(t["highPrice"])
    _, avg = await client.public("avgPrice", symbol="QRLUSDT")
    assert avg["mins"] == 5 and D(avg["price"]) > 0
    assert (await client.public("defaultSymbols"))[1] == {"code": 200, "data": ["QRLUSDT"],
                                                          "msg": None}
    assert (await client.signed("GET", "selfSymbols"))[1]["data"] == ["QRLUSDT"]


async def test_params_in_body_signed_as_query_plus_body(client: Client, sim: Simulator) -> None:
    """DOC example 3: part of the params in the query, part in the body, the signature over
    query + body with nothing between them."""
    sim.pause()
    query = "symbol=QRLUSDT&side=BUY&type=LIMIT"
    body = f"quantity=100&price=0.04&recvWindow=5000&timestamp={int(time.time() * 1000)}"
    signature = sign(sim.api_secret, query + body)
    url = URL(f"{sim.rest_url}/api/v3/order?{query}", encoded=True)
    headers = {"X-MEXC-APIKEY": sim.api_key,
               "Content-Type": "application/x-www-form-urlencoded"}
    async with client.session.post(url, data=body + "&signature=" + signature,
                                   headers=headers) as r:
        placed = await r.json()
        assert r.status == 200, placed
    assert placed["origQty"] == "100" and placed["price"] == "0.04"
    async with client.session.post(url, data=body + "&signature=" + "0" * 64,
                                   headers=headers) as r:
        assert (await r.json())["code"] == 700002
    assert sim.order_requests[-1].outcome == "rejected:700002"


async def test_resting_limit_fills_as_maker_when_the_replay_crosses_it(
        shared_data: Path) -> None:
    market = ReplayMarket(path=shared_data / "ETH_BTC-5m.csv", rescale="0.5", start_index=100)
    cfg = SimConfig(seed=1, market=market, maker_fee="0.001",
                    balances={"QRL": "0", "USDT": "1000"})
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as s:
        client = Client(sim, s)
        sim.pause()
        model = sim.markets["QRLUSDT"]
        i = next(i for i in range(100, 200) if model.bars[i].low < model.bars[i - 1].close
                 and model.bars[i].open_ms == model.bars[100].open_ms + (i - 100) * 300_000)
        sim.advance((model.bars[i].open_ms - sim.now_ms()) / 1000)
        low = model.bars[i].low
        status, placed = await client.order(symbol="QRLUSDT", side="BUY", type="LIMIT",
                                            quantity="100", price=str(low))
        assert status == 200 and sim.orders()[0]["status"] == "NEW"
        sim.advance(300)  # the candle runs its course through its low
        await asyncio.sleep(0.2)
        _, order = await client.signed("GET", "order", symbol="QRLUSDT",
                                       orderId=placed["orderId"])
        _, trades = await client.signed("GET", "myTrades", symbol="QRLUSDT")
    assert order["status"] == "FILLED" and order["executedQty"] == "100"
    assert [(t["price"], t["qty"], t["isMaker"], t["commission"], t["commissionAsset"])
            for t in trades] == [(str(low), "100", True, "0.1", "QRL")]
