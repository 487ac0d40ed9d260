"""MarketHub against the simulator serving several symbols, over real websockets: the pairs
are spread over connections within MEXC's 30 subscriptions (what the simulator saw), each pair's
closed candles, MAs and crossovers equal the offline computation from REST klines, a dropped
connection resubscribes only its own pairs, a silent pair is reported alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal as D

import pytest

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsTimings
from daemon.domain.candles import ClosedCandle, CrossoverEvent, offline_series
from daemon.domain.models import BookTop
from daemon.errors import ConfigError
from daemon.runtime.market_hub import MarketHub
from daemon.sim import ExtraSymbol, SimConfig, Simulator
from daemon.sim.push import book_ticker_frame
from tests.support.sim_settings import creds_for, settings_for

FAST = WsTimings(ping_interval_s=0.05, stale_after_s=0.5, max_age_s=3600.0,
                 backoff_initial_s=0.02, backoff_max_s=0.2, ack_timeout_s=1.0,
                 open_timeout_s=1.0)


def symbols(n: int) -> tuple[ExtraSymbol, ...]:
    """``n`` symbols (A01USDT...), each its own seeded random walk."""
    return tuple(ExtraSymbol(f"A{i:02d}USDT", f"A{i:02d}", "USDT", quote_precision=5,
                             start_price=f"{1 + i / 10:.2f}") for i in range(1, n + 1))


async def wait_until(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


@dataclass
class Seen:
    candles: dict[str, list[ClosedCandle]] = field(default_factory=dict)
    events: dict[str, list[CrossoverEvent]] = field(default_factory=dict)

    async def on_candle(self, symbol: str, c: ClosedCandle) -> None:
        self.candles.setdefault(symbol, []).append(c)

    async def on_crossover(self, symbol: str, e: CrossoverEvent) -> None:
        self.events.setdefault(symbol, []).append(e)


@asynccontextmanager
async def running_hub(n: int, seen: Seen, *, timings: WsTimings = FAST,
                      poll_interval_s: float = 3600.0, **hub: object
                      ) -> AsyncIterator[tuple[Simulator, MexcRest, MarketHub]]:
    # 10 ticks a second, a simulated minute each: a 5-minute candle closes every 0.5 s
    cfg = SimConfig.for_symbols(symbols(n), seed=11, speed=600.0, max_push_hz=10.0)
    async with Simulator(cfg, port=0) as sim:
        settings = settings_for(sim)
        rest = MexcRest(settings.exchange, creds_for(sim), backoff_first_s=0.01,
                        backoff_max_s=0.02)
        await rest.start()
        market = MarketHub(settings, rest, [s.symbol for s in symbols(n)],
                           on_candle=seen.on_candle, on_crossover=seen.on_crossover,
                           timings=timings, backfill=40, poll_interval_s=poll_interval_s,
                           **hub)  # type: ignore[arg-type]
        await market.start()
        try:
            yield sim, rest, market
        finally:
            await market.stop()
            await rest.close()


def sim_subscriptions(sim: Simulator) -> list[frozenset[str]]:
    return sorted((frozenset(c.subs) for c in sim.hub.conns if not c.listen_key), key=len)


async def test_pairs_spread_over_connections_and_match_the_offline_series() -> None:
    seen = Seen()
    async with running_hub(16, seen) as (sim, rest, market):
        await wait_until(lambda: all(s.connected.is_set() for s in market.streams), 5)
        # 16 pairs = 32 channels: never more than 30 on one connection
        subs = sim_subscriptions(sim)
        assert [len(s) for s in subs] == [2, 30]
        assert frozenset().union(*subs) == {ch for p in market.pairs.values()
                                            for ch in p.channels}
        assert all(s.stats.refusals == 0 and s.stats.connects == 1 for s in market.streams)
        starts = {sym: p.window.last_closed for sym, p in market.pairs.items()}
        await wait_until(lambda: all(len(seen.candles.get(sym, [])) >= 8
                                     for sym in market.pairs), 30)
        await market.stop()
        rows = {sym: (await rest.klines_range(sym, "5m", p.window.candles[0].open_time_ms,
                                              None)).rows for sym, p in market.pairs.items()}
    for sym, pair in market.pairs.items():
        ref = {r.candle.open_time_ms: r for r in offline_series(rows[sym], 7, 25)}
        got = seen.candles[sym]
        backfilled = starts[sym]
        assert backfilled is not None
        assert [c.candle.open_time_ms for c in got] == sorted(
            t for t in ref if backfilled.open_time_ms < t <= got[-1].candle.open_time_ms), sym
        for c in got:
            r = ref[c.candle.open_time_ms]
            assert (c.candle, c.ma_short, c.ma_long, c.trend, c.crossover) == \
                   (r.candle, r.ma_short, r.ma_long, r.trend, r.crossover), sym
        assert seen.events.get(sym, []) == [c.crossover for c in got if c.crossover], sym
        assert pair.stats.closed_from_stream >= 8 and pair.stats.bad_frames == 0
        top, at = pair.book
        assert top is not None and at is not None and top.bid_price < top.ask_price
        assert pair.last_price is not None and pair.deaf() is None
    assert sum(len(e) for e in seen.events.values()) >= 1  # crossovers happened
    assert all(c.unrouted == 0 for c in market.connections)


async def test_a_dropped_connection_resubscribes_only_its_pairs() -> None:
    seen = Seen()
    async with running_hub(16, seen) as (sim, _rest, market):
        await wait_until(lambda: all(s.connected.is_set() for s in market.streams), 5)
        first, second = market.connections
        kept = [c for c in sim.hub.conns if c.subs == set(first.stream.channels)]
        assert len(kept) == 1
        second.stream.drop("test: dropped")
        await wait_until(lambda: second.stream.stats.connects == 2
                         and second.stream.connected.is_set(), 5)
        await wait_until(lambda: all(p.stats.repairs >= 1 for p in second.pairs), 5)
        conns = list(sim.hub.conns)
        assert len(conns) == 2 and kept[0] in conns  # the first connection was not touched
        (fresh,) = [c for c in conns if c is not kept[0]]
        assert fresh.subs == set(second.stream.channels) == {
            ch for p in second.pairs for ch in p.channels}
        assert first.stream.stats.connects == 1 and first.stream.stats.reconnects == 0
        assert second.stream.stats.reconnects == 1
        assert all(p.stats.repairs == 0 for p in first.pairs)  # no poll within the test
        pushed = {p.symbol: p.pushes for p in market.pairs.values()}
        await wait_until(lambda: all(p.pushes > pushed[p.symbol]
                                     for p in market.pairs.values()), 5)


async def test_a_silent_pair_is_reported_without_touching_the_others() -> None:
    seen = Seen()
    timings = WsTimings(ping_interval_s=0.05, stale_after_s=0.5, max_age_s=3600.0,
                        backoff_initial_s=0.02, backoff_max_s=0.2, ack_timeout_s=1.0,
                        open_timeout_s=1.0, data_stale_after_s=0.6)
    async with running_hub(4, seen, timings=timings, poll_interval_s=0.2,
                           pairs_per_connection=2) as (sim, _rest, market):
        await wait_until(lambda: all(s.connected.is_set() for s in market.streams), 5)
        assert sorted(len(s) for s in sim_subscriptions(sim)) == [4, 4]
        mute = market.pair("A02USDT")
        # the exchange stops pushing one pair's channels (subscribed, the others push on)
        for conn in sim.hub.conns:
            conn.subs.difference_update(mute.channels)
        await wait_until(lambda: bool(market.deaf()), 5)
        assert list(market.silent()) == ["A02USDT"]
        (why,) = market.deaf()
        assert why.startswith("market A02USDT (on market 1/2 A01USDT..A02USDT) has pushed "
                              "no data for")
        assert all(market.pair(s).deaf() is None for s in ("A01USDT", "A03USDT", "A04USDT"))
        pushed = {p.symbol: p.pushes for p in market.pairs.values()}
        await asyncio.sleep(0.3)
        assert {s: market.pair(s).pushes > pushed[s] for s in market.pairs} == {
            "A01USDT": True, "A02USDT": False, "A03USDT": True, "A04USDT": True}
        for s in market.streams:  # no connection was dropped for it
            assert (s.stats.connects, s.stats.reconnects, s.stats.silent_drops) == (1, 0, 0)


async def test_a_push_without_its_channel_first_is_routed_by_decoding_strays_are_counted(
        ) -> None:
    seen = Seen()
    async with running_hub(2, seen) as (sim, _rest, market):
        await wait_until(lambda: all(s.connected.is_set() for s in market.streams), 5)
        a01, a02 = market.pair("A01USDT"), market.pair("A02USDT")
        await wait_until(lambda: a01.book[0] is not None and a02.book[0] is not None, 5)
        sim.faults.ws_mute_book_ticker = True  # only the pushes below move the book tops
        await asyncio.sleep(0.2)
        before = a01.book[0]
        # no channel: the wrapper starts with its symbol (field 3), decoded to be routed
        frame = book_ticker_frame("", "A02USDT", (D("0.5"), D("3")), (D("0.6"), D("4")),
                                  sim.now_ms())
        assert frame[0] != 0x0A
        assert sim.hub.inject(a02.channels[1], frame) == 1
        await wait_until(lambda: a02.book[0] == BookTop(D("0.5"), D("3"), D("0.6"), D("4")), 5)
        assert a01.book[0] == before
        (conn,) = market.connections
        stray = book_ticker_frame("spot@public.aggre.bookTicker.v3.api.pb@100ms@ZZZUSDT",
                                  "ZZZUSDT", (D("1"), D("1")), (D("2"), D("1")), sim.now_ms())
        sim.hub.inject(a02.channels[1], stray)
        sim.hub.inject(a02.channels[1], b"\xff\xff\xff")
        await wait_until(lambda: conn.unrouted == 2, 5)
        assert a01.book[0] == before and a02.book[0] == BookTop(D("0.5"), D("3"), D("0.6"),
                                                                 D("4"))
        assert a01.stats.bad_frames == a02.stats.bad_frames == 0
        assert conn.stream.stats.reconnects == 0


async def test_one_pair_hub_is_one_connection_named_like_the_feed() -> None:
    seen = Seen()
    async with running_hub(1, seen) as (sim, _rest, market):
        await wait_until(lambda: len(seen.candles.get("A01USDT", [])) >= 2, 10)
        (stream,) = market.streams
        assert stream.name == "market A01USDT" and market.pair("A01USDT").stream is stream
        assert sim_subscriptions(sim) == [frozenset(market.pair("A01USDT").channels)]


@pytest.mark.parametrize(("symbols_", "per_conn", "error"), [
    ([], 15, "no pairs to follow"),
    (["A01USDT", "A01USDT"], 15, "'A01USDT' is listed twice"),
    (["a01usdt"], 15, "must be UPPERCASE"),
    (["A01USDT"], 16, "pairs_per_connection must be within 1..15"),
])
async def test_bad_hub_arguments_are_named(symbols_: list[str], per_conn: int,
                                           error: str) -> None:
    cfg = SimConfig.for_symbols(symbols(1), seed=1)
    async with Simulator(cfg, port=0) as sim:
        settings = settings_for(sim)
        rest = MexcRest(settings.exchange, creds_for(sim))
        with pytest.raises(ConfigError, match=error):
            MarketHub(settings, rest, symbols_, pairs_per_connection=per_conn)


async def test_one_pair_whose_repair_fails_does_not_take_its_connection_down() -> None:
    """A pair whose REST repair keeps failing after a reconnect (suspended, delisted) is
    logged and keeps its gap; the connection stays up for the other pairs (it used to
    reconnect in a loop, the others losing their live data; found by review)."""
    from daemon.errors import ExchangeError

    seen = Seen()
    async with running_hub(3, seen) as (_sim, _rest, market):
        (conn,) = market.connections
        await wait_until(lambda: conn.stream.connected.is_set(), 5)
        broken = conn.pairs[0]

        async def refuse(*_a: object, **_k: object) -> object:
            raise ExchangeError(f"klines {broken.symbol}: symbol suspended")

        broken.repair = refuse  # type: ignore[method-assign]
        conn.stream.drop("test: dropped")
        await wait_until(lambda: conn.stream.stats.connects == 2
                         and conn.stream.connected.is_set(), 5)
        await wait_until(lambda: all(p.stats.repairs >= 1 for p in conn.pairs[1:]), 5)
        pushed = {p.symbol: p.pushes for p in conn.pairs}
        await wait_until(lambda: all(p.pushes > pushed[p.symbol] for p in conn.pairs), 5)
        assert conn.stream.stats.reconnects == 1 and conn.stream.connected.is_set()
