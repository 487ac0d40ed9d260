"""The simulator serving several symbols over real HTTP and websockets: exchangeInfo lists each
with its own rules (a paused one and one closed to the API among them), klines and book tops per
symbol, one account whose balances an order on any symbol moves, private pushes carrying the
symbol, replayed series aligned by time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.adapters.mexc.parsing import parse_exchange_rules
from daemon.errors import SymbolNotTradable
from daemon.sim import ExtraSymbol, ReplayMarket, SimConfig, Simulator
from daemon.sim.symbols import BASKET_BALANCES, BASKET_SYMBOLS, basket_config
from tests.support.sim_client import Client, collect, next_frame

PRIVATE = ["spot@private.account.v3.api.pb", "spot@private.orders.v3.api.pb",
           "spot@private.deals.v3.api.pb"]
PAUSED = ExtraSymbol("XYZUSDT", "XYZ", "USDT", start_price="2", status="2")
NO_API = ExtraSymbol("ABCUSDT", "ABC", "USDT", start_price="3", spot_trading_allowed=False)


@pytest.fixture
async def basket() -> AsyncIterator[Client]:
    cfg = SimConfig.for_symbols((*BASKET_SYMBOLS, PAUSED, NO_API), seed=5,
                                balances={**BASKET_BALANCES, "XYZ": "10", "ABC": "10"})
    async with Simulator(cfg, port=0) as sim, aiohttp.ClientSession() as session:
        yield Client(sim, session)


async def test_exchange_info_lists_each_symbol_with_its_rules(basket: Client) -> None:
    status, info = await basket.public("exchangeInfo")
    assert status == 200
    rows = {s["symbol"]: s for s in info["symbols"]}
    assert list(rows) == ["QRLUSDT", "BTCUSDT", "ETHUSDT", "XYZUSDT", "ABCUSDT"]
    keys = ("baseAsset", "quoteAsset", "baseAssetPrecision", "quotePrecision",
            "baseSizePrecision", "quoteAmountPrecision", "makerCommission", "takerCommission",
            "status", "isSpotTradingAllowed")
    assert {s: tuple(r[k] for k in keys) for s, r in rows.items()} == {
        "QRLUSDT": ("QRL", "USDT", 2, 5, "0.01", "1", "0", "0.0005", "1", True),
        "BTCUSDT": ("BTC", "USDT", 6, 2, "0.000001", "1", "0", "0.0005", "1", True),
        "ETHUSDT": ("ETH", "USDT", 5, 2, "0.00001", "1", "0", "0.0005", "1", True),
        "XYZUSDT": ("XYZ", "USDT", 2, 4, "0.01", "1", "0", "0.0005", "2", True),
        "ABCUSDT": ("ABC", "USDT", 2, 4, "0.01", "1", "0", "0.0005", "1", False),
    }
    _, some = await basket.public("exchangeInfo", symbols="BTCUSDT,ETHUSDT")
    assert [s["symbol"] for s in some["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    _, listed = await basket.public("defaultSymbols")
    assert listed["data"] == ["QRLUSDT", "BTCUSDT", "ETHUSDT", "XYZUSDT"]
    # the daemon's own reading of exchangeInfo (its config check) sees which are tradable
    assert parse_exchange_rules(info, "BTCUSDT").min_qty == Decimal("0.000001")
    with pytest.raises(SymbolNotTradable, match=r"XYZUSDT: status is '2' \(paused\)"):
        parse_exchange_rules(info, "XYZUSDT")
    with pytest.raises(SymbolNotTradable, match="ABCUSDT: isSpotTradingAllowed is False"):
        parse_exchange_rules(info, "ABCUSDT")


async def test_orders_on_untradable_symbols_are_refused(basket: Client) -> None:
    for symbol, code, msg in (("XYZUSDT", 30000, "suspended transaction for the symbol"),
                              ("ABCUSDT", 10007, "symbol not support api")):
        status, body = await basket.order(symbol=symbol, side="SELL", type="MARKET",
                                          quantity="5")
        assert (status, body["code"], body["msg"]) == (400, code, msg)
    assert basket.sim.balances()["XYZ"] == basket.sim.balances()["ABC"] == (Decimal(10), 0)
    assert basket.sim.orders() == []


async def test_klines_and_book_tops_per_symbol(basket: Client) -> None:
    sim = basket.sim
    levels = {"QRLUSDT": Decimal("0.05"), "BTCUSDT": Decimal(95000),
              "ETHUSDT": Decimal(3300)}
    for symbol, level in levels.items():
        _, rows = await basket.public("klines", symbol=symbol, interval="5m", limit=50)
        assert len(rows) == 50
        closes = [Decimal(r[4]) for r in rows]
        assert all(level / 2 < c < level * 2 for c in closes), (symbol, closes)
        _, top = await basket.public("ticker/bookTicker", symbol=symbol)
        bid, ask = Decimal(top["bidPrice"]), Decimal(top["askPrice"])
        assert top["symbol"] == symbol and bid < ask and level / 2 < bid < level * 2
        decimals = sim.specs[symbol].quote_precision
        assert -bid.as_tuple().exponent <= decimals  # type: ignore[operator]
    channels = [f"spot@public.kline.v3.api.pb@{s}@Min1" for s in levels] + [
        f"spot@public.aggre.bookTicker.v3.api.pb@100ms@{s}" for s in levels]
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIPTION", "params": channels})
        assert (await next_frame(ws))["msg"] == ",".join(channels)
        pushes = [p for p in await collect(ws, 1.5) if hasattr(p, "channel")]
    seen: dict[tuple[str, str], list[Decimal]] = {}
    for p in pushes:
        body = p.WhichOneof("body")
        price = (p.publicSpotKline.closingPrice if body == "publicSpotKline"
                 else p.publicAggreBookTicker.bidPrice)
        assert p.channel.endswith(p.symbol) or f"@{p.symbol}@" in p.channel
        seen.setdefault((p.symbol, body), []).append(Decimal(price))
    assert set(seen) == {(s, b) for s in levels
                         for b in ("publicSpotKline", "publicAggreBookTicker")}
    for (symbol, _), prices in seen.items():
        assert all(levels[symbol] / 2 < x < levels[symbol] * 2 for x in prices)


async def _private(basket: Client) -> tuple[aiohttp.ClientSession, Any]:
    _, body = await basket.signed("POST", "userDataStream")
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{basket.sim.ws_url}?listenKey={body['listenKey']}")
    await ws.send_json({"method": "SUBSCRIPTION", "params": PRIVATE})
    assert (await next_frame(ws))["msg"] == ",".join(PRIVATE)
    return session, ws


async def test_an_order_on_btcusdt_moves_btc_and_usdt(basket: Client) -> None:
    sim = basket.sim
    session, ws = await _private(basket)
    try:
        before = sim.balances()
        status, placed = await basket.order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                            quantity="0.003", newClientOrderId="btc-buy-1")
        assert status == 200 and placed["symbol"] == "BTCUSDT"
        pushes = [p for p in await collect(ws, 0.7) if hasattr(p, "channel")]
    finally:
        await ws.close()
        await session.close()
    _, trades = await basket.signed("GET", "myTrades", symbol="BTCUSDT")
    assert trades and {t["orderId"] for t in trades} == {placed["orderId"]}
    bought = sum(Decimal(t["qty"]) for t in trades)
    paid = sum(Decimal(t["quoteQty"]) for t in trades)
    fee = sum(Decimal(t["commission"]) for t in trades)
    assert bought == Decimal("0.003") and {t["commissionAsset"] for t in trades} == {"BTC"}
    assert fee == bought * Decimal("0.0005")
    after = sim.balances()
    assert after["BTC"] == (before["BTC"][0] + bought - fee, 0)
    assert after["USDT"] == (before["USDT"][0] - paid, 0)
    assert after["ETH"] == before["ETH"] and after["QRL"] == before["QRL"]
    _, account = await basket.signed("GET", "account")
    free = {b["asset"]: Decimal(b["free"]) for b in account["balances"]}
    assert free["BTC"] == after["BTC"][0] and free["USDT"] == after["USDT"][0]
    deals = [p for p in pushes if p.WhichOneof("body") == "privateDeals"]
    assert [(d.symbol, d.privateDeals.orderId, d.privateDeals.clientOrderId,
             d.privateDeals.quantity) for d in deals] == [
        ("BTCUSDT", placed["orderId"], "btc-buy-1", t["qty"]) for t in trades]
    orders = [p for p in pushes if p.WhichOneof("body") == "privateOrders"]
    assert {o.symbol for o in orders} == {"BTCUSDT"} and orders[-1].privateOrders.status == 2
    moved = {p.privateAccount.vcoinName for p in pushes
             if p.WhichOneof("body") == "privateAccount"}
    assert moved == {"BTC", "USDT"}


async def test_a_resting_sell_on_ethusdt_fills_against_ethusdt(basket: Client) -> None:
    sim = basket.sim
    sim.pause()
    price = sim.price("ETHUSDT")
    limit = (price * Decimal("1.001")).quantize(Decimal("0.01"))
    status, placed = await basket.order(symbol="ETHUSDT", side="SELL", type="LIMIT",
                                        quantity="0.1", price=str(limit))
    assert status == 200
    assert sim.balances()["ETH"] == (Decimal("0.05"), Decimal("0.1"))
    # the ETH path reaches the limit within simulated hours; the other pairs are not asked
    for _ in range(600):
        sim.advance(60)
        sim.step()
        if not sim.engine.open_orders("ETHUSDT"):
            break
    order = next(o for o in sim.orders() if o["orderId"] == placed["orderId"])
    assert order["status"] == "FILLED" and order["symbol"] == "ETHUSDT"
    trades = sim.my_trades("ETHUSDT")
    assert {t["price"] for t in trades} == {str(limit)} and all(t["isMaker"] for t in trades)
    gained = sum(Decimal(t["quoteQty"]) - Decimal(t["commission"]) for t in trades)
    assert sim.balances()["ETH"] == (Decimal("0.05"), 0)
    assert sim.balances()["USDT"] == (Decimal(500) + gained, 0)
    assert sim.my_trades("BTCUSDT") == sim.my_trades("QRLUSDT") == []


async def test_the_basket_preset_and_the_single_pair_default() -> None:
    cfg = basket_config(seed=2)
    assert [s.symbol for s in cfg.symbols()] == ["QRLUSDT", "BTCUSDT", "ETHUSDT"]
    assert cfg.balances == BASKET_BALANCES
    single = SimConfig()  # today's default, one symbol, as before
    assert [s.symbol for s in single.symbols()] == ["QRLUSDT"]
    async with Simulator(cfg, port=0) as a, Simulator(SimConfig(seed=2), port=0) as b:
        # the basket's main pair walks exactly as the single pair does with the same seed
        assert a.markets["QRLUSDT"].bars[:100] == b.markets["QRLUSDT"].bars[:100]
        start = a.markets["QRLUSDT"].start_ms
        assert [a.markets[s].price_at(start) for s in ("QRLUSDT", "BTCUSDT", "ETHUSDT")] == [
            Decimal("0.05"), Decimal(95000), Decimal(3300)]


def test_replayed_symbols_are_aligned_by_time(shared_data: Path) -> None:
    eth = ExtraSymbol("ETHUSDT", "ETH", "USDT", base_precision=4, quote_precision=2,
                      market=ReplayMarket(shared_data / "ETH_BTC-5m.csv", rescale="30000"))
    ltc = ExtraSymbol("LTCUSDT", "LTC", "USDT", base_precision=4, quote_precision=2,
                      market=ReplayMarket(shared_data / "LTC_BTC-5m.csv", rescale="30000",
                                          start_index=288))
    sim = Simulator(SimConfig.for_symbols((ltc, eth)))
    start = sim.markets["LTCUSDT"].start_ms
    assert sim.now_ms() >= start == 1515560100000 + 288 * 300_000  # the main (first) symbol's start
    got = {s: sim.markets[s].klines("5m", start, start_ms=None, end_ms=None, limit=3)
           for s in ("LTCUSDT", "ETHUSDT")}
    assert [b.open_ms for b in got["LTCUSDT"]] == [b.open_ms for b in got["ETHUSDT"]]
    lines = (shared_data / "ETH_BTC-5m.csv").read_text().splitlines()
    row = next(r.split(",") for r in lines[1:] if r.startswith(str(start - 300_000)))
    assert got["ETHUSDT"][-2].close == (Decimal(row[4]) * 30000).quantize(Decimal("0.01"),
                                                                           "ROUND_DOWN")


def test_a_replay_that_misses_the_start_is_refused(tmp_path: Path) -> None:
    late = tmp_path / "late.csv"
    rows = ["open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume"] + [
        f"{4_000_000_000_000 + i * 300_000},1,1,1,1,1,{4_000_000_300_000 + i * 300_000},1"
        for i in range(3)]
    late.write_text("\n".join(rows) + "\n")
    cfg = SimConfig(extra_symbols=(ExtraSymbol("LATEUSDT", "LATE", "USDT",
                                               market=ReplayMarket(late)),))
    with pytest.raises(ValueError, match=r"symbol 'LATEUSDT': its candles .* do not cover"):
        Simulator(cfg)


@pytest.mark.parametrize(("extra", "message"), [
    (ExtraSymbol("QRLUSDT", "QRL", "USDT"), "symbol 'QRLUSDT' is listed twice"),
    (ExtraSymbol("btcusdt", "BTC", "USDT"), "symbol must be UPPERCASE"),
    (ExtraSymbol("BTCUSDT", "BTC", "BTC"), "base_asset and quote_asset are both 'BTC'"),
    (ExtraSymbol("BTCUSDT", "BTC", "USDT", status="4"), "status must be one of 1 (online)"),
    (ExtraSymbol("BTCUSDT", "BTC", "USDT", taker_fee="-1"), "taker_fee must be >= 0"),
    (ExtraSymbol("BTCUSDT", "BTC", "USDT", base_precision=19), "base_precision must be"),
    (ExtraSymbol("BTCUSDT", "BTC", "USDT", start_price="0"), "start_price must be > 0"),
])
def test_bad_symbols_are_refused_naming_the_field(extra: ExtraSymbol, message: str) -> None:
    with pytest.raises(ValueError, match=r"'BTCUSDT'|'QRLUSDT'|'btcusdt'") as err:
        SimConfig(extra_symbols=(extra,)).validate()
    assert message in str(err.value)
