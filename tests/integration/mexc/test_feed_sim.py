"""MarketFeed against the simulator replaying real series (with their real gaps), while the
websockets are dropped, stalled and rotated: at every closed candle the averages equal a
recomputation from REST klines, and the crossover events equal the offline ones."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsTimings
from daemon.config import Settings
from daemon.domain.candles import ClosedCandle, CrossoverEvent, offline_series
from daemon.runtime.market_feed import MarketFeed, PairFeed
from daemon.runtime.market_hub import MarketHub
from daemon.sim import ReplayMarket, SimConfig, Simulator
from tests.support.market_series import load_csv
from tests.support.sim_settings import creds_for, settings_for

FAST = WsTimings(ping_interval_s=0.05, stale_after_s=0.3, max_age_s=1.5,
                 backoff_initial_s=0.02, backoff_max_s=0.2, ack_timeout_s=0.3,
                 open_timeout_s=1.0)


class _Feed:
    """The feed under test and how it starts and stops: a MarketFeed, or the one pair of a
    one-pair MarketHub (which must behave the same)."""

    def __init__(self, kind: str, settings: Settings, rest: MexcRest,
                 on_candle: Callable[[ClosedCandle], Awaitable[None]],
                 on_crossover: Callable[[CrossoverEvent], Awaitable[None]] | None = None,
                 **kw: Any) -> None:
        if kind == "feed":
            feed = MarketFeed(settings, rest, on_candle=on_candle, on_crossover=on_crossover,
                              **kw)
            self.pair: PairFeed = feed
            self.start, self.stop = feed.start, feed.stop
            return

        async def candle(_: str, c: ClosedCandle) -> None:
            await on_candle(c)

        async def crossover(_: str, e: CrossoverEvent) -> None:
            if on_crossover is not None:
                await on_crossover(e)

        hub = MarketHub(settings, rest, [settings.symbol], on_candle=candle,
                        on_crossover=crossover, **kw)
        self.pair = hub.pair(settings.symbol)
        self.start, self.stop = hub.start, hub.stop


KINDS = pytest.mark.parametrize("kind", ["feed", "one-pair hub"])


async def _wait_until(predicate: object, timeout_s: float) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


@KINDS
@pytest.mark.parametrize(("name", "start", "end"), [("TRX_BTC", 4690, 4850),
                                                    ("ADA_BTC", 1440, 1600)])
async def test_replay_with_faults_matches_rest(shared_data: Path, name: str, start: int,
                                               end: int, kind: str) -> None:
    market = ReplayMarket(path=shared_data / f"{name}-5m.csv", rescale="500",
                          start_index=start, end_index=end)
    csv_rows = load_csv(shared_data / f"{name}-5m.csv", start, end)
    cfg = SimConfig(seed=3, speed=10000.0, market=market, quote_precision=8)
    async with Simulator(cfg, port=0) as sim:
        settings = settings_for(sim)
        rest = MexcRest(settings.exchange, creds_for(sim), backoff_first_s=0.01,
                        backoff_max_s=0.02)
        await rest.start()
        candles: list[ClosedCandle] = []
        events: list[CrossoverEvent] = []

        async def on_candle(c: ClosedCandle) -> None:
            candles.append(c)

        async def on_crossover(e: CrossoverEvent) -> None:
            events.append(e)

        under_test = _Feed(kind, settings, rest, on_candle, on_crossover, timings=FAST,
                           backfill=60, poll_interval_s=3600)
        feed = under_test.pair
        await under_test.start()
        first_ms = feed.window.candles[0].open_time_ms
        backfilled_until = feed.window.last_closed
        assert backfilled_until is not None and feed.window.ready
        span = end - start
        try:
            await _wait_until(lambda: len(candles) > span // 5, 20)
            sim.drop_websockets()
            await _wait_until(lambda: len(candles) > span * 2 // 5, 20)
            sim.stall_websockets(0.8)
            await _wait_until(lambda: len(candles) > span * 3 // 5, 20)
            sim.drop_websockets()
            # the replay's last candle never closes; the one before it is the last to report
            last_to_close = csv_rows[-2].open_time_ms
            await _wait_until(lambda: sim.now_ms() > csv_rows[-1].close_time_ms, 30)
            await _wait_until(lambda: feed.window.last_closed is not None
                              and feed.window.last_closed.open_time_ms >= last_to_close, 5)
        finally:
            await under_test.stop()
        rows = (await rest.klines_range(sim.cfg.symbol, "5m", first_ms, None)).rows
        await rest.close()

    ref = offline_series(rows[:-1], 7, 25)  # the replay's last candle never closes
    reported = [c.candle.open_time_ms for c in candles]
    expected = [r.candle.open_time_ms for r in ref
                if r.candle.open_time_ms > backfilled_until.open_time_ms]
    assert reported == expected  # every closed candle once, in order, nothing invented
    assert rows[-1].open_time_ms == csv_rows[-1].open_time_ms
    by_time = {r.candle.open_time_ms: r for r in ref}
    for c in candles:
        r = by_time[c.candle.open_time_ms]
        assert (c.candle, c.ma_short, c.ma_long, c.trend) == \
               (r.candle, r.ma_short, r.ma_long, r.trend), c.candle.open_time_ms
    offline_events = [r.crossover for r in ref if r.crossover is not None
                      and r.candle.open_time_ms > backfilled_until.open_time_ms]
    assert events == offline_events and len(events) >= 2
    # the faults really happened and were repaired
    gaps_in_data = sum(1 for a, b in itertools.pairwise(rows)
                       if b.open_time_ms - a.open_time_ms > 300_000)
    assert gaps_in_data >= 1
    stats = feed.stream.stats
    assert stats.reconnects >= 3 and stats.stale_drops >= 1 and stats.rotations >= 1
    assert feed.stats.repairs >= 3 and feed.stats.gaps >= 1  # others fell in reconnects
    assert feed.last_price is not None and feed.last_price_ms is not None


@KINDS
async def test_rest_poll_closes_candles_when_the_stream_is_down(kind: str) -> None:
    """No push ever arrives (quiet market, or the stream cannot connect): the REST poll still
    closes every candle, with the same averages."""
    async with Simulator(SimConfig(seed=5, speed=3000.0), port=0) as sim:
        settings = settings_for(sim, ws_url="ws://127.0.0.1:9/ws")  # nothing listens there
        rest = MexcRest(settings.exchange, creds_for(sim))
        await rest.start()
        candles: list[ClosedCandle] = []

        async def on_candle(c: ClosedCandle) -> None:
            candles.append(c)

        under_test = _Feed(kind, settings, rest, on_candle, timings=FAST, backfill=40,
                           poll_interval_s=0.1)
        feed = under_test.pair
        await under_test.start()
        first = feed.window.candles[0].open_time_ms
        backfilled = feed.window.last_closed
        assert backfilled is not None
        await _wait_until(lambda: len(candles) >= 8, 10)
        await under_test.stop()
        rows = (await rest.klines_range(sim.cfg.symbol, "5m", first, None)).rows
        await rest.close()
    assert feed.stream.stats.connects == 0 and feed.stream.stats.failures
    ref = {r.candle.open_time_ms: r for r in offline_series(rows, 7, 25)}
    assert [c.candle.open_time_ms for c in candles] == \
           sorted(t for t in ref if backfilled.open_time_ms < t <= candles[-1].candle.open_time_ms)
    for c in candles:
        r = ref[c.candle.open_time_ms]
        assert (c.candle, c.ma_short, c.ma_long, c.trend, c.crossover) == \
               (r.candle, r.ma_short, r.ma_long, r.trend, r.crossover)
