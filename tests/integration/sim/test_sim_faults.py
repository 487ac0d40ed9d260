"""Each fault kind and the test hooks, over real connections; determinism under the seed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from daemon.sim import Faults, SimConfig, Simulator
from tests.support.sim_client import Client, collect, next_frame

KLINE = "spot@public.kline.v3.api.pb@QRLUSDT@Min1"
ORDER = {"symbol": "QRLUSDT", "side": "BUY", "type": "LIMIT", "quantity": "100",
         "price": "0.04"}


async def test_http_5xx_has_no_effect(client: Client, sim: Simulator) -> None:
    sim.faults.http_5xx_rate = 1.0
    assert (await client.public("ping"))[0] == 503
    status, body = await client.order(**ORDER, newClientOrderId="x5")
    assert (status, body["code"]) == (503, 503)
    assert sim.orders() == [] and sim.order_requests[-1].outcome == "5xx"


async def test_rate_limit_fault_429(client: Client, sim: Simulator) -> None:
    sim.faults.rate_limit_rate = 1.0
    sim.faults.retry_after_s = 3
    async with client.session.get(f"{sim.rest_url}/api/v3/time") as r:
        assert r.status == 429 and r.headers["Retry-After"] == "3"
    status, _ = await client.order(**ORDER)
    assert status == 429 and sim.orders() == []


async def test_lost_reply_order_is_processed(client: Client, sim: Simulator) -> None:
    sim.faults.lost_reply_rate = 1.0
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await client.order(**ORDER, newClientOrderId="lost-1")
    sim.faults.lost_reply_rate = 0.0
    (order,) = sim.orders()
    assert sim.order_requests[-1].outcome == f"lost_reply:{order['orderId']}"
    got = await client.order_by_client_id("QRLUSDT", "lost-1")
    assert got["orderId"] == order["orderId"]
    sim.faults.lost_reply_rate = 1.0
    async with aiohttp.ClientSession() as s:
        s._retry_connection = False  # as aiohttp's own test client does
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await Client(sim, s).signed("DELETE", "order", symbol="QRLUSDT",
                                        origClientOrderId="lost-1")
    assert sim.orders()[0]["status"] == "CANCELED"


async def test_aiohttp_resends_a_cancel_whose_reply_was_lost(client: Client,
                                                             sim: Simulator) -> None:
    """aiohttp 3.14 silently re-sends an idempotent method (DELETE) once when the connection
    drops: the cancel is processed, its reply lost, and the client sees the retry's -2011."""
    assert (await client.order(**ORDER, newClientOrderId="c-lost"))[0] == 200
    sim.faults.lost_reply_rate = 1.0
    status, body = await client.signed("DELETE", "order", symbol="QRLUSDT",
                                       origClientOrderId="c-lost")
    assert (status, body["code"]) == (400, -2011)
    assert sim.orders()[0]["status"] == "CANCELED"


async def test_hooks_hold_and_kill_replies(client: Client, sim: Simulator) -> None:
    seen: list[Any] = []

    async def hold(params: Any) -> None:
        seen.append(params["newClientOrderId"])
        await asyncio.sleep(0.3)

    sim.hooks.before_order = hold
    t0 = time.monotonic()
    assert (await client.order(**ORDER, newClientOrderId="h1"))[0] == 200
    assert time.monotonic() - t0 >= 0.3 and seen == ["h1"]
    sim.hooks.before_order = None

    async def boom(order: Any) -> None:
        raise RuntimeError("kill the connection")

    sim.hooks.after_order = boom
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await client.order(**ORDER, newClientOrderId="h2")
    oid = next(o["orderId"] for o in sim.orders() if o["clientOrderId"] == "h2")
    assert sim.order_requests[-1].outcome == f"killed:{oid}"
    fills: list[Any] = []

    async def on_fill(trade: Any) -> None:
        fills.append(trade)

    sim.hooks.after_order = None
    sim.hooks.on_fill = on_fill
    await client.order(symbol="QRLUSDT", side="SELL", type="MARKET", quantity="100")
    assert fills and fills == sim.my_trades("QRLUSDT")


async def test_faults_are_deterministic_under_seed() -> None:
    async def run(seed: int) -> list[int]:
        cfg = SimConfig(seed=seed, faults=Faults(http_5xx_rate=0.5), weight_per_10s=None)
        async with Simulator(cfg) as sim, aiohttp.ClientSession() as s:
            return [(await Client(sim, s).public("ping"))[0] for _ in range(24)]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again and 503 in first and 200 in first and first != other


async def _subscribed(sim: Simulator, s: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    ws = await s.ws_connect(sim.ws_url)
    await ws.send_json({"method": "SUBSCRIPTION", "params": [KLINE]})
    assert (await next_frame(ws))["msg"] == KLINE
    return ws


async def test_push_duplicates_and_delay() -> None:
    cfg = SimConfig(seed=1, faults=Faults(push_duplicate_rate=1.0))
    async with Simulator(cfg) as sim, aiohttp.ClientSession() as s:
        ws = await _subscribed(sim, s)
        pushes = [p for p in await collect(ws, 0.5) if hasattr(p, "channel")]
        assert len(pushes) >= 4 and pushes[0::2] == pushes[1::2]
        await ws.close()
        sim.faults.push_duplicate_rate = 0.0
        sim.faults.push_delay_ms = 400
        ws = await _subscribed(sim, s)
        t0 = time.monotonic()
        first = await next_frame(ws)
        assert hasattr(first, "channel") and time.monotonic() - t0 >= 0.35
        await ws.close()


async def test_drop_and_stall_websockets(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s:
        ws = await _subscribed(sim, s)
        sim.drop_websockets()
        items = await collect(ws, 2)
        assert isinstance(items[-1], aiohttp.WSMessage)
        assert items[-1].type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                  aiohttp.WSMsgType.CLOSE)
        ws = await _subscribed(sim, s)
        sim.stall_websockets(0.8)
        await ws.send_json({"method": "PING"})
        assert await collect(ws, 0.6) == []  # nothing at all: no pushes, no PONG
        await asyncio.sleep(0.3)
        await ws.send_json({"method": "PING"})
        items = await collect(ws, 0.5)
        assert {"id": 0, "code": 0, "msg": "PONG"} in items
        await ws.close()


async def test_lost_reply_can_hang_until_the_client_times_out(client: Client,
                                                              sim: Simulator) -> None:
    sim.faults.lost_reply_rate, sim.faults.lost_reply_hang_s = 1.0, 1.0
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.3):
            await client.order(**ORDER, newClientOrderId="hang-1")
    (order,) = sim.orders()
    assert order["clientOrderId"] == "hang-1" and order["status"] == "NEW"


async def test_websocket_drop_and_stall_rates() -> None:
    faults = Faults(ws_drop_rate_per_s=5.0)  # about every 0.2 s
    async with Simulator(SimConfig(seed=1, faults=faults)) as sim, \
            aiohttp.ClientSession() as s:
        ws = await _subscribed(sim, s)
        items = await collect(ws, 3)
        assert isinstance(items[-1], aiohttp.WSMessage)
        sim.faults.ws_drop_rate_per_s = 0.0
        sim.faults.ws_stall_rate_per_s, sim.faults.ws_stall_s = 50.0, 0.5
        ws = await _subscribed(sim, s)
        await asyncio.sleep(0.2)
        sim.faults.ws_stall_rate_per_s = 0.0
        await ws.send_json({"method": "PING"})
        items = await collect(ws, 0.3)
        assert {"id": 0, "code": 0, "msg": "PONG"} not in items  # stalled
        await asyncio.sleep(0.5)
        await ws.send_json({"method": "PING"})
        assert {"id": 0, "code": 0, "msg": "PONG"} in await collect(ws, 0.5)
        await ws.close()
