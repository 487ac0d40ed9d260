"""Reading the account's history from the (realistic) simulator: myTrades pages of a few rows
at EQUAL timestamps come back whole and once; allOrders' 7 days and myTrades' month are all
there is, and the orders of older trades are looked up by orderId."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from daemon.adapters.mexc.history import read_history, read_paged
from daemon.adapters.mexc.ratelimit import RateLimiter
from daemon.adapters.mexc.rest import MexcRest
from daemon.domain.models import Fill, Side
from daemon.sim import SimConfig, Simulator
from tests.support.sim_settings import creds_for, settings_for

DAY_S = 86400


async def _market(rest: MexcRest, client_id: str, side: Side = Side.BUY,
                  qty: str = "20") -> str:
    placed = await rest.place_order("QRLUSDT", side, "MARKET", client_order_id=client_id,
                                    quantity=Decimal(qty))
    return placed.order_id


@pytest.fixture
async def fast() -> AsyncIterator[tuple[Simulator, MexcRest]]:
    """A simulator and client without a weight budget: paging by pages of 2 rows asks a lot."""
    config = SimConfig(seed=7, weight_per_10s=None, orders_per_s=None)
    async with Simulator(config, port=0) as sim, MexcRest(
            settings_for(sim).exchange, creds_for(sim), limiter=RateLimiter(1_000_000)) as client:
        yield sim, client


async def test_trades_at_equal_timestamps_across_full_pages(
        fast: tuple[Simulator, MexcRest]) -> None:
    msim, rest = fast
    msim.pause()  # every fill of one burst carries the same millisecond
    start = msim.now_ms()
    for burst in range(6):
        for i in range(2):
            await _market(rest, f"rb-b{burst}x{i}-0", Side.BUY if i % 2 else Side.SELL)
        msim.advance(0.001 if burst % 2 == 0 else 0.4)  # some bursts 1 ms apart
    expected = sorted(rest_id for rest_id, _ in msim.trade_ids("QRLUSDT"))
    assert len(expected) == 12 and len({t["time"] for t in msim.my_trades("QRLUSDT")}) == 6

    async def call(s: int, e: int, limit: int) -> list[Fill]:
        return await rest.my_trades("QRLUSDT", start_ms=s, end_ms=e, limit=limit)

    async def read(limit: int) -> tuple[list[str], list[str], int]:
        paged = await read_paged(call, start - 5000, msim.now_ms() + 1, limit=limit,
                                 key=lambda f: f.trade_id, time_of=lambda f: f.time_ms,
                                 window_ms=3000)
        return [f.trade_id for f in paged.rows], paged.problems, paged.requests

    rows, problems, requests = await read(3)  # 2 rows per millisecond: every page splits
    assert sorted(rows) == expected and len(rows) == 12  # each once
    assert problems == [] and requests > 3
    rows, problems, _ = await read(2)  # a full page within one millisecond: said so
    assert sorted(rows) == expected
    assert len(problems) == 6 and all("a full page of 2 rows" in p for p in problems)


@pytest.fixture
async def patient_rest(msim: Simulator) -> AsyncIterator[MexcRest]:
    """``rest`` with time to spare: the simulator's 25-day jump makes a month of candles in
    its event loop, which on a loaded machine held a 2 s POST past its timeout."""
    client = MexcRest(settings_for(msim, request_timeout_ms=15000).exchange, creds_for(msim),
                      backoff_first_s=0.01, backoff_max_s=0.02)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def test_history_reaches_7_days_of_orders_and_a_month_of_trades(
        msim: Simulator, patient_rest: MexcRest) -> None:
    rest = patient_rest
    gone = await _market(rest, "rb-old33d-0")
    msim.advance(25 * DAY_S)
    week_old = await _market(rest, "rb-old8d-0", Side.SELL)
    manual = await _market(rest, "web8d", Side.BUY)
    msim.advance(8 * DAY_S)
    recent = await _market(rest, "rb-new-0")
    history = await read_history(rest, "QRLUSDT")
    assert set(history.orders) == {recent}  # allOrders: the last 7 days only
    traded = {t.order_id for t in history.trades}
    assert traded == {week_old, manual, recent}  # myTrades: the last 30 days only
    assert gone not in traded
    looked_up = {oid: r.client_order_id for oid, r in history.lookups.items() if r is not None}
    assert looked_up == {week_old: "rb-old8d-0", manual: "web8d"}
    assert history.failed == {} and history.problems == ()
    assert history.trades_from_ms > history.orders_from_ms - 24 * DAY_S * 1000
