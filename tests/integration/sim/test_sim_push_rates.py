"""SimConfig.tick_hz: the simulator pushes at MEXC's rates in real time (the forming kline once
a second, the 100ms book ticker up to ten times a second), which bench/bench_pairs.py needs;
without it every tick pushes both, as before."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect

from daemon.adapters.mexc import intervals
from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.sim import SimConfig, Simulator


async def pushes_per_s(cfg: SimConfig, seconds: float) -> tuple[float, float]:
    """Kline and book-ticker pushes a second of QRLUSDT seen on one connection."""
    async with Simulator(cfg, port=0) as sim, connect(sim.ws_url) as ws:
        for ch in (intervals.kline_channel("QRLUSDT", "Min5"),
                   intervals.book_ticker_channel("QRLUSDT")):
            await ws.send(orjson.dumps({"method": "SUBSCRIPTION", "params": [ch]}).decode())
        counts = {"publicSpotKline": 0, "publicAggreBookTicker": 0}

        async def read() -> None:
            async for frame in ws:
                if isinstance(frame, bytes):
                    body = PushDataV3ApiWrapper.FromString(frame).WhichOneof("body")
                    counts[str(body)] += 1

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.3)  # subscribed, pushing
        before = dict(counts)
        await asyncio.sleep(seconds)
        reader.cancel()
    return ((counts["publicSpotKline"] - before["publicSpotKline"]) / seconds,
            (counts["publicAggreBookTicker"] - before["publicAggreBookTicker"]) / seconds)


async def test_tick_hz_pushes_the_book_ticker_at_10_hz_and_the_kline_once_a_second() -> None:
    kline, book = await pushes_per_s(SimConfig(seed=2, speed=1.0, tick_hz=20.0), 3.0)
    assert 0.6 <= kline <= 1.4
    assert 7.0 <= book <= 10.4


async def test_without_tick_hz_each_tick_pushes_both() -> None:
    kline, book = await pushes_per_s(SimConfig(seed=2, speed=1.0), 3.0)
    assert 0.6 <= kline <= 1.4 and 0.6 <= book <= 1.4


def test_tick_hz_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="tick_hz must be > 0, got 0"):
        SimConfig(tick_hz=0.0).validate()
