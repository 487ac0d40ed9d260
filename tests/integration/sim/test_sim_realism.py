"""The simulator behaves like the real MEXC where it departs from its docs (PROTOCOL.md 9), by
default, over real HTTP and websocket connections; each point's knob (``Realism``) turns it
off, and ``Realism.kind()`` turns all of them off."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from daemon.domain.money import fmt
from daemon.sim import Realism, SimConfig, Simulator
from daemon.sim.clock import real_ms
from tests.support.sim_client import Client, collect, next_frame

D = Decimal
HEX32 = re.compile(r"[0-9a-f]{32}")
PUSH_ID = re.compile(r"[0-9]+X[0-9]+")
DIGITS = re.compile(r"[0-9]+")
SIX = {"symbol", "orderId", "price", "origQty", "type", "side"}
PRIVATE = ["spot@private.deals.v3.api.pb", "spot@private.orders.v3.api.pb"]


def _cfg(**realism: Any) -> SimConfig:
    return SimConfig(seed=3, speed=60.0, orders_per_s=None,
                     realism=dataclasses.replace(Realism(), **realism))


@pytest.fixture
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Simulator, Client]]:
    """A simulator with the realistic defaults, or the Realism given by indirect param."""
    realism = getattr(request, "param", None) or Realism()
    cfg = SimConfig(seed=3, speed=60.0, orders_per_s=None, realism=realism)
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as session:
        yield sim, Client(sim, session)


def _low(sim: Simulator) -> Decimal:
    return (sim.price() * D("0.8")).quantize(D("0.00001"))


async def _limit_buy(client: Client, sim: Simulator, **extra: Any) -> dict[str, Any]:
    """A resting BUY of 100 at 0.8 x the market; the reply as it came."""
    status, placed = await client.order(symbol="QRLUSDT", side="BUY", type="LIMIT",
                                        quantity="100", price=str(_low(sim)), **extra)
    assert status == 200, placed
    return dict(placed)


# -- defaults ------------------------------------------------------------------------------
def test_defaults_are_the_real_exchange_and_kind_turns_all_off() -> None:
    real, kind = Realism(), Realism.kind()
    assert (real.kline_max_rows, real.kline_start_needs_end, real.kline_end_exclusive) == (
        500, True, True)
    assert (real.cancel_client_id, real.trade_ids) == ("own", "distinct")
    assert real.minimal_replies > 0 and real.not_found_after_create_s > 0
    assert real.wire_types and real.missing_signature_700004 and real.one_clock
    assert SimConfig().realism == real
    assert (kind.kline_max_rows, kind.kline_start_needs_end, kind.kline_end_exclusive) == (
        1000, False, False)
    assert (kind.cancel_client_id, kind.trade_ids) == ("echo", "same")
    assert (kind.minimal_replies, kind.not_found_after_create_s) == (0.0, 0.0)
    assert not (kind.wire_types or kind.missing_signature_700004 or kind.one_clock)


@pytest.mark.parametrize(("change", "message"), [
    ({"trade_ids": "equal"}, "trade_ids"), ({"cancel_client_id": "mine"}, "cancel_client_id"),
    ({"minimal_replies": 1.5}, "minimal_replies"), ({"minimal_replies": float("nan")},
                                                    "minimal_replies"),
    ({"not_found_after_create_s": -1.0}, "not_found_after_create_s"),
    ({"kline_max_rows": 0}, "kline_max_rows"),
])
def test_bad_realism_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Simulator(SimConfig(realism=dataclasses.replace(Realism(), **change)))


# -- klines --------------------------------------------------------------------------------
async def test_klines_at_most_500_rows(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.pause()
    _, newest = await client.public("klines", symbol="QRLUSDT", interval="1m", limit=1000)
    assert len(newest) == 500 and newest[-1][0] == sim.now_ms() // 60_000 * 60_000
    start = newest[0][0] - 2000 * 60_000
    _, window = await client.public("klines", symbol="QRLUSDT", interval="1m", limit=1000,
                                    startTime=start, endTime=newest[-1][0])
    assert [r[0] for r in window] == [start + i * 60_000 for i in range(500)]


@pytest.mark.parametrize("venue", [Realism.kind()], indirect=True)
async def test_klines_kind_exchange_honours_1000(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.pause()
    _, rows = await client.public("klines", symbol="QRLUSDT", interval="1m", limit=1000)
    assert len(rows) == 1000


async def test_klines_start_without_end_returns_the_newest(
        venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.pause()
    _, newest = await client.public("klines", symbol="QRLUSDT", interval="5m", limit=3)
    old = newest[-1][0] - 100 * 300_000
    _, got = await client.public("klines", symbol="QRLUSDT", interval="5m", limit=3,
                                 startTime=old)
    assert got == newest and got[0][0] != old  # as captured: startTime is not honoured


@pytest.mark.parametrize("venue", [Realism.kind()], indirect=True)
async def test_klines_kind_exchange_honours_start(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.pause()
    old = sim.now_ms() // 300_000 * 300_000 - 100 * 300_000
    _, got = await client.public("klines", symbol="QRLUSDT", interval="5m", limit=3,
                                 startTime=old)
    assert [r[0] for r in got] == [old, old + 300_000, old + 600_000]


@pytest.mark.parametrize(("realism", "rows"), [(Realism(), 5), (Realism.kind(), 6)])
async def test_klines_end_time_exclusive(realism: Realism, rows: int) -> None:
    async with Simulator(SimConfig(seed=3, realism=realism)) as sim, \
            aiohttp.ClientSession() as session:
        sim.pause()
        a = sim.now_ms() // 60_000 * 60_000 - 60 * 60_000
        _, got = await Client(sim, session).public(
            "klines", symbol="QRLUSDT", interval="1m", startTime=a, endTime=a + 5 * 60_000)
    assert [r[0] for r in got] == [a + i * 60_000 for i in range(rows)]


async def test_klines_paged_by_windows_of_500_return_every_candle(
        venue: tuple[Simulator, Client]) -> None:
    """A client paging with explicit startTime + endTime windows gets each candle once."""
    sim, client = venue
    sim.pause()
    end = sim.now_ms() // 60_000 * 60_000  # the forming candle opens here
    start = end - 1200 * 60_000
    opens: list[int] = []
    for a in range(start, end, 500 * 60_000):
        _, page = await client.public("klines", symbol="QRLUSDT", interval="1m", limit=1000,
                                      startTime=a, endTime=min(a + 500 * 60_000, end))
        opens += [r[0] for r in page]
    assert opens == [start + i * 60_000 for i in range(1200)]


async def test_klines_bad_interval_is_1121(venue: tuple[Simulator, Client]) -> None:
    _, client = venue
    for bad in ("1h", "5M", "Min5"):
        status, body = await client.public("klines", symbol="QRLUSDT", interval=bad)
        assert (status, body["code"], body["msg"]) == (400, -1121, "Invalid interval.")


# -- DELETE /order ids ---------------------------------------------------------------------
async def test_cancel_reply_names_the_order_by_orig_client_order_id() -> None:
    async with Simulator(_cfg(minimal_replies=0.0)) as sim, \
            aiohttp.ClientSession() as session:
        client = Client(sim, session)
        sim.pause()
        a = await _limit_buy(client, sim, newClientOrderId="ord-1")
        b = await _limit_buy(client, sim, newClientOrderId="ord-2")
        _, ca = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                    origClientOrderId="ord-1", newClientOrderId="cxl-1")
        _, cb = await client.signed("DELETE", "order", symbol="QRLUSDT", orderId=b["orderId"])
    assert (ca["orderId"], ca["origClientOrderId"], ca["clientOrderId"]) == (
        a["orderId"], "ord-1", "cxl-1")
    assert ca["status"] == "CANCELED"
    assert (cb["orderId"], cb["origClientOrderId"]) == (b["orderId"], "ord-2")
    assert HEX32.fullmatch(cb["clientOrderId"])  # made up by the exchange, not the order's


async def test_cancel_client_id_echo_knob() -> None:
    async with Simulator(_cfg(minimal_replies=0.0, cancel_client_id="echo")) as sim, \
            aiohttp.ClientSession() as session:
        client = Client(sim, session)
        sim.pause()
        await _limit_buy(client, sim, newClientOrderId="ord-1")
        _, got = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                     origClientOrderId="ord-1", newClientOrderId="cxl-1")
    assert (got["origClientOrderId"], got["clientOrderId"]) == ("ord-1", "ord-1")


# -- minimal replies -----------------------------------------------------------------------
async def test_minimal_replies_at_rate_one() -> None:
    async with Simulator(_cfg(minimal_replies=1.0)) as sim, \
            aiohttp.ClientSession() as session:
        client = Client(sim, session)
        sim.pause()
        low = _low(sim)
        placed = await _limit_buy(client, sim, newClientOrderId="m-1")
        _, canceled = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                          orderId=placed["orderId"])
        _, order = await client.signed("GET", "order", symbol="QRLUSDT",
                                       orderId=placed["orderId"])
    assert placed == {"symbol": "QRLUSDT", "orderId": placed["orderId"], "orderListId": "-1"}
    assert set(canceled) == SIX
    assert (canceled["orderId"], canceled["origQty"], canceled["type"], canceled["side"],
            D(canceled["price"])) == (placed["orderId"], "100", "LIMIT", "BUY", low)
    assert order["status"] == "CANCELED"  # asking again tells what the reply left out


async def _minimal_pattern(seed: int, n: int) -> tuple[list[bool], list[bool]]:
    cfg = dataclasses.replace(_cfg(), seed=seed)
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as session:
        client = Client(sim, session)
        sim.pause()
        posts, cancels = [], []
        for _ in range(n):
            placed = await _limit_buy(client, sim)
            _, canceled = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                              orderId=placed["orderId"])
            posts.append(set(placed) == {"symbol", "orderId", "orderListId"})
            cancels.append(set(canceled) == SIX)
            assert posts[-1] or "transactTime" in placed
            assert cancels[-1] or canceled["status"] == "CANCELED"
    return posts, cancels


async def test_minimal_replies_default_rate_is_seeded() -> None:
    first = await _minimal_pattern(5, 30)
    assert first == await _minimal_pattern(5, 30)
    for pattern in first:
        assert 1 <= sum(pattern) <= 15  # default 0.2 of 30


# -- two ids for one fill ------------------------------------------------------------------
async def _fills_both_ways(realism: Realism) -> tuple[list[Any], list[dict[str, Any]]]:
    cfg = SimConfig(seed=3, speed=60.0, realism=realism)
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as session:
        client = Client(sim, session)
        _, body = await client.signed("POST", "userDataStream")
        async with session.ws_connect(f"{sim.ws_url}?listenKey={body['listenKey']}") as ws:
            await ws.send_json({"method": "SUBSCRIPTION", "params": PRIVATE})
            assert (await next_frame(ws))["msg"] == ",".join(PRIVATE)
            sim.pause()
            status, placed = await client.order(symbol="QRLUSDT", side="SELL", type="MARKET",
                                                quantity="9000", newClientOrderId="two-ids")
            assert status == 200, placed
            frames = await collect(ws, 0.7)
        _, rows = await client.signed("GET", "myTrades", symbol="QRLUSDT")
    deals = [f.privateDeals for f in frames if not isinstance(f, dict | str)
             and f.WhichOneof("body") == "privateDeals"]
    assert deals and len(deals) == len(rows)
    return deals, rows


async def test_rest_and_push_name_one_fill_differently() -> None:
    deals, rows = await _fills_both_ways(Realism())
    for d, t in zip(deals, rows, strict=True):
        assert HEX32.fullmatch(t["id"]) and PUSH_ID.fullmatch(d.tradeId)
        assert d.tradeId != t["id"]
        # ... and still the same fill: order, quantity, price, time
        assert (d.orderId, d.clientOrderId, d.quantity, d.price, d.amount, d.feeAmount) == (
            t["orderId"], t["clientOrderId"], t["qty"], t["price"], t["quoteQty"],
            t["commission"])
        assert str(d.time) == t["time"]
    assert len({t["id"] for t in rows}) == len(rows) and len(rows) >= 2


async def test_trade_ids_same_knob() -> None:
    deals, rows = await _fills_both_ways(dataclasses.replace(Realism(), trade_ids="same"))
    assert [d.tradeId for d in deals] == [t["id"] for t in rows]
    assert all(PUSH_ID.fullmatch(t["id"]) for t in rows)


# -- not found right after the create ------------------------------------------------------
async def test_get_order_by_client_id_is_2013_for_a_while_after_create() -> None:
    lag_s = 1.0
    async with Simulator(_cfg(not_found_after_create_s=lag_s)) as sim, \
            aiohttp.ClientSession() as session:
        client = Client(sim, session)
        t0 = time.monotonic()
        placed = await _limit_buy(client, sim, newClientOrderId="nf-1")
        status, err = await client.signed("GET", "order", symbol="QRLUSDT",
                                          origClientOrderId="nf-1")
        assert (status, err["code"], err["msg"]) == (400, -2013, "Order does not exist.")
        status, by_id = await client.signed("GET", "order", symbol="QRLUSDT",
                                            orderId=placed["orderId"])
        assert status == 200 and by_id["clientOrderId"] == "nf-1"
        _, open_orders = await client.signed("GET", "openOrders", symbol="QRLUSDT")
        assert [o["orderId"] for o in open_orders] == [placed["orderId"]]
        found = await client.order_by_client_id("QRLUSDT", "nf-1")
        waited = time.monotonic() - t0
    assert found == by_id
    assert lag_s / 2 <= waited <= lag_s + 1.5  # drawn from [S/2, S] real seconds


async def test_not_found_lag_is_seeded() -> None:
    async def lags() -> list[float]:
        async with Simulator(_cfg(not_found_after_create_s=2.0)) as sim, \
                aiohttp.ClientSession() as session:
            client = Client(sim, session)
            sim.pause()
            out = []
            for i in range(5):
                await _limit_buy(client, sim, newClientOrderId=f"seed-{i}")
                out.append(sim.last_hidden_s)
            return out

    a = await lags()
    assert all(1.0 <= x <= 2.0 for x in a) and len(set(a)) == 5
    assert a == await lags()  # the same draws under the same seed


@pytest.mark.parametrize("venue", [Realism.kind()], indirect=True)
async def test_kind_exchange_finds_the_order_at_once(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    await _limit_buy(client, sim, newClientOrderId="k-1")
    status, got = await client.signed("GET", "order", symbol="QRLUSDT", origClientOrderId="k-1")
    assert status == 200 and got["clientOrderId"] == "k-1"


# -- types ---------------------------------------------------------------------------------
async def test_order_objects_carry_the_captured_types() -> None:
    async with Simulator(_cfg(minimal_replies=0.0, not_found_after_create_s=0.0)) as sim, \
            aiohttp.ClientSession() as session:
        client = Client(sim, session)
        sim.pause()
        low = _low(sim)
        placed = await _limit_buy(client, sim, newClientOrderId="t-1")
        _, open_ = await client.signed("GET", "order", symbol="QRLUSDT",
                                       orderId=placed["orderId"])
        mid = sim.price()
        _, sold = await client.order(symbol="QRLUSDT", side="SELL", type="MARKET",
                                     quantity="1000")
        _, filled = await client.signed("GET", "order", symbol="QRLUSDT",
                                        orderId=sold["orderId"])
        _, trades = await client.signed("GET", "myTrades", symbol="QRLUSDT")
        _, depth = await client.public("depth", symbol="QRLUSDT", limit=5)
        _, day = await client.public("ticker/24hr", symbol="QRLUSDT")
        now = sim.now_ms()
    assert placed["orderListId"] == "-1" and DIGITS.fullmatch(placed["transactTime"])
    assert int(placed["transactTime"]) == now  # simulated time (paused)
    assert (open_["orderListId"], open_["time"], open_["updateTime"]) == ("-1", str(now), None)
    assert (open_["timeInForce"], open_["stopPrice"], open_["icebergQty"]) == (None,) * 3
    assert open_["origQuoteOrderQty"] == fmt(low * 100) and placed["price"] == fmt(low)
    assert open_["isWorking"] is True and "cancelReason" in open_
    assert (filled["status"], filled["isWorking"], filled["updateTime"]) == (
        "FILLED", True, str(now))
    assert D(filled["price"]) == mid == D(sold["price"])  # the reference price, not "0"
    assert filled["origQuoteOrderQty"] == fmt(mid * 1000)
    assert all(t["orderListId"] == "-1" and t["time"] == str(now) for t in trades)
    assert {t["clientOrderId"] for t in trades} == {filled["clientOrderId"]}  # "" or null
    assert (depth["lastUpdateId"], depth["timestamp"]) == (str(now), str(now))
    assert (day["openTime"], day["closeTime"]) == (str(now - 86_400_000), str(now))


async def test_client_order_id_blank_or_null_when_none_given(
        venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.pause()
    ids = [(await _limit_buy(client, sim))["orderId"] for _ in range(8)]
    _, open_orders = await client.signed("GET", "openOrders", symbol="QRLUSDT")
    seen = {o["orderId"]: o["clientOrderId"] for o in open_orders}
    again = {oid: (await client.signed("GET", "order", symbol="QRLUSDT", orderId=oid))[1][
        "clientOrderId"] for oid in ids}
    assert seen == again and set(seen.values()) == {"", None}  # both, stable per order


@pytest.mark.parametrize("venue", [Realism.kind()], indirect=True)
async def test_kind_exchange_documented_types(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.pause()
    placed = await _limit_buy(client, sim)
    _, order = await client.signed("GET", "order", symbol="QRLUSDT", orderId=placed["orderId"])
    assert (placed["orderListId"], placed["transactTime"]) == (-1, sim.now_ms())
    assert (order["time"], order["updateTime"], order["clientOrderId"]) == (
        sim.now_ms(), sim.now_ms(), None)
    assert (order["timeInForce"], order["stopPrice"]) == ("GTC", "0")


# -- missing signature ---------------------------------------------------------------------
@pytest.mark.parametrize(("realism", "code"), [(Realism(), 700004), (Realism.kind(), 700002)])
async def test_missing_signature(realism: Realism, code: int) -> None:
    async with Simulator(SimConfig(seed=3, realism=realism)) as sim, \
            aiohttp.ClientSession() as session:
        client = Client(sim, session)
        q = client.query({"symbol": "QRLUSDT"})
        for raw in (q.split("&signature")[0], q.split("&signature")[0] + "&signature="):
            status, err = await client.signed("GET", "openOrders", raw_query=raw)
            assert (status, err["code"]) == (400, code)
    if code == 700004:
        assert err["msg"].startswith("Mandatory parameter 'signature'")


# -- one clock -----------------------------------------------------------------------------
async def test_one_clock_for_time_and_everything_else(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.advance(3 * 86400)  # far from the real clock
    sim.pause()
    before = sim.now_ms()
    _, t = await client.public("time")
    _, info = await client.public("exchangeInfo", symbol="QRLUSDT")
    _, rows = await client.public("klines", symbol="QRLUSDT", interval="1m", limit=1)
    after = sim.now_ms()
    assert before <= t["serverTime"] <= info["serverTime"] <= after
    assert rows[0][0] <= t["serverTime"] < rows[0][6]  # the forming candle holds server time
    assert t["serverTime"] - real_ms() > 2 * 86400_000


@pytest.mark.parametrize("venue", [Realism.kind()], indirect=True)
async def test_kind_exchange_time_is_the_real_clock(venue: tuple[Simulator, Client]) -> None:
    sim, client = venue
    sim.advance(3 * 86400)
    _, t = await client.public("time")
    assert abs(t["serverTime"] - real_ms()) < 2000


async def test_signing_window_at_speed_60(venue: tuple[Simulator, Client]) -> None:
    """Checked against the real clock and each clock /time handed out; as strict as MEXC
    (1 s lead, recvWindow) against each of them, while simulated time runs 60x."""
    sim, client = venue
    sim.advance(3600)  # keep simulated time away from the real clock (both are references)
    t0 = real_ms()
    _, body = await client.public("time")
    offset = body["serverTime"] - (t0 + real_ms()) // 2  # a client syncs once
    await asyncio.sleep(0.5)  # 30 simulated seconds: far beyond any recvWindow

    async def account(ts: int, recv_window: int | None = None) -> int:
        status, got = await client.signed("GET", "account", ts_ms=ts, recv_window=recv_window)
        return 200 if status == 200 else int(got["code"])

    assert await account(real_ms() + offset) == 200  # synced once, still right
    assert await account(real_ms()) == 200  # the host's own (NTP) clock
    assert await account(real_ms() + offset - 6000) == 700003  # stale
    assert await account(real_ms() + offset - 6000, recv_window=10_000) == 200
    assert await account(real_ms() + offset + 1500) == 700003  # ahead
    assert await account(real_ms() - 6000) == 700003
    assert await account(sim.now_ms()) == 700003  # no answer of /time reads like that
    assert await account(real_ms() // 1000) == 700003  # seconds, not milliseconds
