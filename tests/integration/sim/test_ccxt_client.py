"""An independent MEXC client, ccxt 4.5 (REST and ccxt.pro websocket with protobuf), pointed at
the simulator, reports the right values. Every ccxt URL points at the simulator, so nothing
reaches the internet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from daemon.sim import SimConfig, Simulator

D = Decimal
SYMBOL = "QRL/USDT"


@pytest.fixture
async def venue() -> AsyncIterator[tuple[Simulator, Any]]:
    async with Simulator(SimConfig(seed=4, speed=60.0)) as sim:
        ex = ccxtpro.mexc({"apiKey": sim.api_key, "secret": sim.api_secret,
                           "enableRateLimit": False})
        api = ex.urls["api"]
        for section in ("spot", "spot2", "contract", "broker"):
            for access in list(api[section]):
                api[section][access] = sim.rest_url
        api["contract"]["public"] = sim.rest_url + "/api/v1/contract"
        api["ws"]["spot"] = api["ws"]["swap"] = sim.ws_url
        urls = [u for section in api.values() for u in section.values()]
        assert all(u.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")) for u in urls), urls
        try:
            yield sim, ex
        finally:
            await ex.close()


def _dec(x: Any) -> Decimal:
    return D(repr(x)) if isinstance(x, float) else D(str(x))


async def test_markets_klines_balances(venue: tuple[Simulator, Any]) -> None:
    sim, ex = venue
    markets = await ex.load_markets()
    m = markets[SYMBOL]
    assert m["active"] is True and m["spot"] is True and m["id"] == "QRLUSDT"
    assert (m["precision"]["amount"], m["precision"]["price"]) == (0.01, 1e-05)
    assert m["limits"]["amount"]["min"] == 0.01 and m["limits"]["cost"]["min"] == 1.0
    assert (m["taker"], m["maker"]) == (0.0005, 0.0)
    sim.pause()
    ohlcv = await ex.fetch_ohlcv(SYMBOL, "5m", limit=5)
    rows = sim.markets["QRLUSDT"].klines("5m", sim.now_ms(), start_ms=None, end_ms=None, limit=5)
    assert [[r[0], *map(_dec, r[1:])] for r in ohlcv] == [
        [b.open_ms, b.open, b.high, b.low, b.close, b.volume] for b in rows]
    ohlcv_1h = await ex.fetch_ohlcv(SYMBOL, "1h", limit=3)  # ccxt asks for 60m
    assert len(ohlcv_1h) == 3 and all(r[0] % 3_600_000 == 0 for r in ohlcv_1h)
    balance = await ex.fetch_balance()
    assert (balance["QRL"]["free"], balance["USDT"]["free"]) == (10000.0, 500.0)


async def test_order_lifecycle_and_fills(venue: tuple[Simulator, Any]) -> None:
    sim, ex = venue
    await ex.load_markets()
    sim.pause()
    order = await ex.create_order(SYMBOL, "limit", "buy", 200, 0.04, {"clientOrderId": "cx-1"})
    assert order["id"].startswith("C02__")
    got = await ex.fetch_order(order["id"], SYMBOL)
    assert (got["status"], got["clientOrderId"], got["amount"], got["filled"]) == (
        "open", "cx-1", 200.0, 0.0)
    assert [o["id"] for o in await ex.fetch_open_orders(SYMBOL)] == [order["id"]]
    assert (await ex.fetch_balance())["USDT"]["used"] == 8.0
    canceled = await ex.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert (await ex.fetch_balance())["USDT"] == {"free": 500.0, "used": 0.0, "total": 500.0}

    buy = await ex.create_market_buy_order_with_cost(SYMBOL, 60)
    sell = await ex.create_order(SYMBOL, "market", "sell", 3000)
    trades = await ex.fetch_my_trades(SYMBOL)
    engine_trades = sim.my_trades("QRLUSDT")
    # ccxt orders fills of one millisecond by id; the real MEXC's REST ids are random hex
    assert sorted((t["timestamp"], t["id"]) for t in trades) == sorted(
        (t["time"], t["id"]) for t in engine_trades)
    for placed in (buy, sell):
        o = await ex.fetch_order(placed["id"], SYMBOL)
        mine = [t for t in engine_trades if t["orderId"] == placed["id"]]
        filled = sum(D(t["qty"]) for t in mine)
        cost = sum(D(t["quoteQty"]) for t in mine)
        assert o["status"] == "closed"
        assert _dec(o["filled"]) == filled and _dec(o["cost"]) == cost
        assert abs(_dec(o["average"]) - cost / filled) < D("1e-9")
    fees = {t["fee"]["currency"]: 0.0 for t in trades}
    for t in trades:
        fees[t["fee"]["currency"]] += t["fee"]["cost"]
        assert t["takerOrMaker"] == "taker"
    qrl_fee = sum(D(t["commission"]) for t in engine_trades if t["commissionAsset"] == "QRL")
    assert abs(_dec(fees["QRL"]) - qrl_fee) < D("1e-9")
    balance = await ex.fetch_balance()
    for asset, (free, locked) in sim.balances().items():
        assert (_dec(balance[asset]["free"]), _dec(balance[asset]["used"])) == (free, locked)
    bought = sum(D(t["qty"]) - D(t["commission"]) for t in engine_trades if t["isBuyer"])
    assert sim.balances()["QRL"][0] == D(10000) + bought - D(3000)


async def _until(coro_fn: Any, check: Any, timeout_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            value = await coro_fn()
            if check(value):
                return value

    return await asyncio.wait_for(loop(), timeout_s)


async def test_websocket_klines_orders_trades_balance(venue: tuple[Simulator, Any]) -> None:
    sim, ex = venue
    await ex.load_markets()
    candles = await asyncio.wait_for(ex.watch_ohlcv(SYMBOL, "1m"), 5)
    last = candles[-1]
    assert last[0] % 60_000 == 0 and last[2] >= max(last[1], last[4]) >= last[3]

    balance_task = asyncio.create_task(_until(  # after the fill: nothing locked, USDT in
        ex.watch_balance, lambda b: b.get("QRL", {}).get("used") == 0.0
        and b.get("USDT", {}).get("free") not in (None, 500.0)))
    orders_task = asyncio.create_task(_until(
        lambda: ex.watch_orders(SYMBOL), lambda os: any(o["status"] == "closed" for o in os)))
    trades_task = asyncio.create_task(_until(lambda: ex.watch_my_trades(SYMBOL),
                                             lambda ts: len(ts) >= 1))
    await asyncio.sleep(1.0)  # let the three subscriptions reach the simulator
    sim.pause()
    placed = await ex.create_order(SYMBOL, "market", "sell", 1500, None,
                                   {"clientOrderId": "ws-1"})
    orders, trades, balance = await asyncio.gather(orders_task, trades_task, balance_task)
    engine_trades = sim.my_trades("QRLUSDT")
    done = next(o for o in orders if o["status"] == "closed")
    assert done["id"] == placed["id"] and done["filled"] == 1500.0
    cost = sum(D(t["quoteQty"]) for t in engine_trades)
    assert abs(_dec(done["average"]) - cost / 1500) < D("1e-9")
    # ccxt reads the push's `amount` (the order's total) as cost; for a MARKET order sized by
    # quantity MEXC sends "0" there (real sample, PROTOCOL.md 6), and so does the simulator.
    assert done["info"]["amount"] == "0" and done["info"]["cumulativeAmount"] == str(cost)
    # the deals push names a fill by its tradeId, REST myTrades by another id (PROTOCOL.md 9)
    rest_id = {push: rest for rest, push in sim.trade_ids("QRLUSDT")}
    assert {t["id"] for t in trades} <= set(rest_id)
    t0 = next(t for t in engine_trades if t["id"] == rest_id[trades[0]["id"]])
    assert (_dec(trades[0]["price"]), _dec(trades[0]["amount"])) == (D(t0["price"]),
                                                                      D(t0["qty"]))
    assert trades[0]["fee"]["currency"] == "USDT"
    assert abs(_dec(trades[0]["fee"]["cost"]) - D(t0["commission"])) < D("1e-9")
    assert _dec(balance["QRL"]["free"]) == sim.balances()["QRL"][0] == D(8500)
    fee = sum(D(t["commission"]) for t in engine_trades)
    assert _dec(balance["USDT"]["free"]) == sim.balances()["USDT"][0] == D(500) + cost - fee


async def test_websocket_ticker_and_public_trades(venue: tuple[Simulator, Any]) -> None:
    sim, ex = venue
    await ex.load_markets()
    sim.pause()
    ticker = await asyncio.wait_for(ex.watch_ticker(SYMBOL), 5)
    top = sim.book("QRLUSDT")
    assert (_dec(ticker["bid"]), _dec(ticker["ask"])) == (top[0][0][0], top[1][0][0])
    tape = asyncio.create_task(ex.watch_trades(SYMBOL))
    await asyncio.sleep(0.5)
    await ex.create_order(SYMBOL, "market", "sell", 100)
    trades = await asyncio.wait_for(tape, 5)
    (mine,) = sim.my_trades("QRLUSDT")
    assert (trades[0]["side"], _dec(trades[0]["price"]), trades[0]["amount"]) == (
        "sell", D(mine["price"]), 100.0)
