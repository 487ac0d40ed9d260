"""The simulator keeps only what MEXC keeps (PROTOCOL.md 2.2, Realism.history_retention):
allOrders the last 7 days, a window over 7 days refused; myTrades the last 30 days. The kind
exchange keeps everything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from daemon.sim import Realism, SimConfig, Simulator
from tests.support.sim_client import Client

DAY_MS = 86_400_000


@asynccontextmanager
async def _history(realism: Realism) -> AsyncIterator[tuple[Simulator, Client]]:
    async with Simulator(SimConfig(seed=3, realism=realism), port=0) as sim, \
            aiohttp.ClientSession() as session:
        yield sim, Client(sim, session)


async def _place(client: Client, coid: str) -> str:
    status, body = await client.order(symbol="QRLUSDT", side="BUY", type="MARKET",
                                      quoteOrderQty="5", newClientOrderId=coid)
    assert status == 200, body
    return str(body["orderId"])


async def _ids(client: Client, path: str, **params: object) -> list[str]:
    status, rows = await client.signed("GET", path, symbol="QRLUSDT", **params)
    assert status == 200, rows
    return [str(r["clientOrderId"]) for r in rows]


async def test_all_orders_keeps_7_days_and_my_trades_30() -> None:
    async with _history(Realism()) as (sim, client):
        oldest = await _place(client, "old40")
        sim.advance(32 * 86400)
        await _place(client, "old8")
        sim.advance(8 * 86400)
        await _place(client, "new")
        now = sim.now_ms()
        week = now - 7 * DAY_MS
        assert await _ids(client, "allOrders", startTime=week, endTime=now) == ["new"]
        # an older start within a 7-day window still finds nothing older than 7 days
        assert await _ids(client, "allOrders", startTime=week - DAY_MS,
                          endTime=now - DAY_MS) == []
        status, err = await client.signed("GET", "allOrders", symbol="QRLUSDT",
                                          startTime=week - DAY_MS, endTime=now)
        assert status == 400 and "7 days" in err["msg"]
        status, err = await client.signed("GET", "allOrders", symbol="QRLUSDT",
                                          startTime=week - DAY_MS)  # endTime: now
        assert status == 400
        assert await _ids(client, "myTrades") == ["old8", "new"]  # not the 40-day-old one
        assert await _ids(client, "myTrades", startTime=now - 45 * DAY_MS) == ["old8", "new"]
        _, order = await client.signed("GET", "order", symbol="QRLUSDT",
                                       orderId=oldest)
        assert order["clientOrderId"] == "old40"  # a single order is still answered


async def test_the_kind_exchange_keeps_everything() -> None:
    async with _history(Realism.kind()) as (sim, client):
        await _place(client, "old40")
        sim.advance(40 * 86400)
        now = sim.now_ms()
        assert await _ids(client, "allOrders", startTime=now - 41 * DAY_MS,
                          endTime=now) == ["old40"]
        assert await _ids(client, "myTrades") == ["old40"]
