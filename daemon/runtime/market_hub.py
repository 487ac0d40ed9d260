"""Many pairs' market data in one process, over as few websocket connections as MEXC allows
(issue 18 "Market data", issue 20 "one process following many pairs").

Each pair is a ``PairFeed``: its candle window, MAs, crossover events, gap repair, REST poll,
last price and book top are exactly ``MarketFeed``'s (the same code). The pairs are packed in
the order given onto connections of at most ``pairs_per_connection`` pairs: two channels each
(kline and book ticker), so 15 pairs fill MEXC's 30 subscriptions per connection (PROTOCOL.md
5; a 31st is refused). A connection is one ``WsStream`` (PING, watchdog, backoff, rotation) and
reconnects and resubscribes alone: only its pairs are interrupted and repaired from REST.

Routing a push: the wrapper's ``channel`` (field 1) is written first, so the frame starts with
its tag (0x0a), its length and the channel's bytes; these are looked up as they are (no decode:
the pair decodes the frame once, as MarketFeed does). A frame laid out otherwise is decoded to
read its channel (or symbol); one naming no pair of the connection is counted and logged.

Staleness per pair: the connection's watchdog only sees the connection go quiet, so each pair
keeps the time of its own last push; ``deaf()`` reports a pair silent for
``exchange.ws_data_stale_after_s`` while REST shows trades, without touching the connection
(the other pairs on it are fine)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from loguru import logger

from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsStream, WsTimings
from daemon.config import Settings
from daemon.domain.candles import ClosedCandle, CrossoverEvent
from daemon.errors import ConfigError
from daemon.runtime.market_feed import PairFeed
from daemon.runtime.supervisor import Supervised, Supervisor

__all__ = ["CHANNELS_PER_PAIR", "MAX_SUBSCRIPTIONS", "HubPair", "MarketHub"]

MAX_SUBSCRIPTIONS = 30  # per connection (PROTOCOL.md 5)
CHANNELS_PER_PAIR = 2  # kline + book ticker

E = TypeVar("E")
OnCrossover = Callable[[str, CrossoverEvent], Awaitable[None]]
OnCandle = Callable[[str, ClosedCandle], Awaitable[None]]


class HubPair(PairFeed):
    """A pair of the hub: ``PairFeed`` on a shared connection, with its own silence."""

    def __init__(self, settings: Settings, rest: MexcRest, symbol: str, *,
                 clock: Callable[[], float],
                 on_crossover: Callable[[CrossoverEvent], Awaitable[None]] | None,
                 on_candle: Callable[[ClosedCandle], Awaitable[None]] | None,
                 wall_ms: Callable[[], int] | None, backfill: int, poll_interval_s: float,
                 verify_last: int, supervisor: Supervisor) -> None:
        super().__init__(settings, rest, symbol=symbol, on_crossover=on_crossover,
                         on_candle=on_candle, wall_ms=wall_ms, backfill=backfill,
                         poll_interval_s=poll_interval_s, verify_last=verify_last,
                         supervisor=supervisor)
        self._clock = clock
        self.last_rx = clock()  # the last push routed to this pair (reset at hub start)
        self.pushes = 0

    def silent_s(self) -> float | None:
        """Seconds since this pair's last push (None: silence is not watched)."""
        if self.stream.timings.data_stale_after_s is None:
            return None
        return self._clock() - self.last_rx

    @property
    def source(self) -> str:
        return f"market {self.symbol} (on {self.stream.name})"


class _Connection:
    """One websocket connection carrying some pairs: routes each push to its pair."""

    def __init__(self, name: str, url: Callable[[], Awaitable[str]], pairs: list[HubPair],
                 timings: WsTimings, clock: Callable[[], float]) -> None:
        self.pairs = pairs
        self._routes = {ch.encode(): p for p in pairs for ch in p.channels}
        self._by_name = {**{ch: p for p in pairs for ch in p.channels},
                         **{p.symbol: p for p in pairs}}
        self._clock = clock
        self.unrouted = 0  # pushes naming no pair of this connection (logged)
        self.stream = WsStream(name, url, [ch for p in pairs for ch in p.channels],
                               self.on_push, on_connected=self._connected,
                               on_disconnected=self._disconnected, timings=timings,
                               clock=clock)
        for pair in pairs:
            pair.stream = self.stream

    async def on_push(self, frame: bytes) -> None:
        pair = None
        if len(frame) > 2 and frame[0] == 0x0A and frame[1] < 0x80:  # channel first
            pair = self._routes.get(frame[2:2 + frame[1]])
        if pair is None:
            pair = self._route_decoded(frame)
            if pair is None:
                return
        pair.last_rx = self._clock()
        pair.pushes += 1
        await pair.on_push(frame)

    def _route_decoded(self, frame: bytes) -> HubPair | None:
        try:
            msg = PushDataV3ApiWrapper.FromString(frame)
        except Exception as exc:  # protobuf's DecodeError
            self._unrouted(f"not a PushDataV3ApiWrapper ({exc})", frame)
            return None
        pair = self._by_name.get(msg.channel) or self._by_name.get(msg.symbol)
        if pair is None:
            self._unrouted(f"channel {msg.channel!r}, symbol {msg.symbol!r}", frame)
        return pair

    def _unrouted(self, why: str, frame: bytes) -> None:
        self.unrouted += 1
        logger.error("{}: push skipped, it names no pair of this connection: {} (frame {})",
                     self.stream.name, why, frame[:64].hex())

    async def _connected(self, reason: str) -> None:
        """Each pair repairs its window from REST after a reconnect (at once: the pushes wait
        meanwhile). When every repair failed (REST down) the first failure is raised: the
        connection reconnects and all repair again. One pair's failure alone (a pair
        suspended, delisted) is logged and leaves that pair's gap to its next push's repair:
        it never takes the live data of the other pairs of the connection with it."""
        done = await asyncio.gather(*(p.on_connected(reason) for p in self.pairs),
                                    return_exceptions=True)
        failed = [(p, o) for p, o in zip(self.pairs, done, strict=True)
                  if isinstance(o, BaseException)]
        if failed and len(failed) == len(done):
            raise failed[0][1]
        for pair, exc in failed:
            if not isinstance(exc, Exception):
                raise exc  # a cancel, never swallowed
            logger.error("market {}: REST repair after the reconnect failed ({}); its window "
                         "keeps the gap until a push of it repairs again, the other pairs of "
                         "{} go on", pair.symbol, exc, self.stream.name)

    async def _disconnected(self, reason: str) -> None:
        for pair in self.pairs:
            await pair.on_disconnected(reason)


class MarketHub:
    """The market data of ``symbols`` (each exposed as ``pair(symbol)``, a ``HubPair`` with
    what ``MarketFeed`` exposes: window, last_price, last_price_ms, book, reference(), deaf(),
    stats, stream) over ``ceil(len(symbols) / pairs_per_connection)`` connections. The
    listeners get the pair's symbol first."""

    def __init__(self, settings: Settings, rest: MexcRest, symbols: Sequence[str], *,
                 on_crossover: OnCrossover | None = None, on_candle: OnCandle | None = None,
                 wall_ms: Callable[[], int] | None = None, timings: WsTimings | None = None,
                 backfill: int = 200, poll_interval_s: float = 60.0, verify_last: int = 3,
                 supervisor: Supervisor | None = None,
                 pairs_per_connection: int = MAX_SUBSCRIPTIONS // CHANNELS_PER_PAIR,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _check(symbols, pairs_per_connection)
        self._supervisor = supervisor or Supervisor()
        self._clock = clock
        self._ws_url = settings.exchange.ws_url
        timings = timings or WsTimings.from_settings(settings.exchange, watch_data=True)
        self.pairs: dict[str, HubPair] = {}
        for symbol in symbols:
            self.pairs[symbol] = HubPair(
                settings, rest, symbol, clock=clock,
                on_crossover=_bound(on_crossover, symbol), on_candle=_bound(on_candle, symbol),
                wall_ms=wall_ms, backfill=backfill, poll_interval_s=poll_interval_s,
                verify_last=verify_last, supervisor=self._supervisor)
        pairs = list(self.pairs.values())
        groups = [pairs[i:i + pairs_per_connection]
                  for i in range(0, len(pairs), pairs_per_connection)]
        self.connections = [
            _Connection(f"market {n}/{len(groups)} {g[0].symbol}..{g[-1].symbol}"
                        if len(g) > 1 else f"market {g[0].symbol}", self._url, g, timings,
                        clock)
            for n, g in enumerate(groups, 1)]
        self._units: list[Supervised] = []

    async def _url(self) -> str:
        return self._ws_url

    def pair(self, symbol: str) -> HubPair:
        try:
            return self.pairs[symbol]
        except KeyError:
            raise KeyError(f"the market hub does not follow {symbol!r} (it follows "
                           f"{', '.join(self.pairs)})") from None

    @property
    def streams(self) -> list[WsStream]:
        return [c.stream for c in self.connections]

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Backfill every pair from REST, then run the connections and each pair's REST poll
        under the supervisor, which restarts them when they die."""
        for pair in self.pairs.values():
            await pair.backfill()
        for conn in self.connections:
            for pair in conn.pairs:
                pair.last_rx = self._clock()
            self._units.append(self._supervisor.spawn(f"market-ws {conn.stream.name}",
                                                      conn.stream.run))
        pairs = list(self.pairs.values())
        for i, pair in enumerate(pairs, 1):  # spread over the interval, not all at once
            pair.start_poll(pair.poll_interval_s * i / len(pairs))

    async def stop(self) -> None:
        await self._supervisor.cancel(*self._units)
        self._units = []
        for pair in self.pairs.values():
            await pair.stop_poll()
        for conn in self.connections:
            await conn.stream.stop()

    @property
    def running(self) -> bool:
        return bool(self._units) and all(u.alive for u in self._units)

    def deaf(self) -> list[str]:
        """Why each deaf pair is deaf (``PairFeed.deaf``), one line per pair."""
        return [why for why in (p.deaf() for p in self.pairs.values()) if why is not None]

    def silent(self) -> dict[str, float]:
        """The pairs silent for longer than ``data_stale_after_s``, with their silence (s)."""
        out: dict[str, float] = {}
        for symbol, pair in self.pairs.items():
            silent, limit = pair.silent_s(), pair.stream.timings.data_stale_after_s
            if silent is not None and limit is not None and silent > limit:
                out[symbol] = silent
        return out


def _check(symbols: Sequence[str], pairs_per_connection: int) -> None:
    if not symbols:
        raise ConfigError("market hub: no pairs to follow")
    seen: set[str] = set()
    for symbol in symbols:
        if not symbol or symbol != symbol.upper():
            raise ConfigError(f"market hub: symbol {symbol!r} must be UPPERCASE (MEXC's "
                              "channels are)")
        if symbol in seen:
            raise ConfigError(f"market hub: symbol {symbol!r} is listed twice")
        seen.add(symbol)
    most = MAX_SUBSCRIPTIONS // CHANNELS_PER_PAIR
    if not 1 <= pairs_per_connection <= most:
        raise ConfigError(f"market hub: pairs_per_connection must be within 1..{most} (MEXC "
                          f"allows {MAX_SUBSCRIPTIONS} subscriptions per connection, "
                          f"{CHANNELS_PER_PAIR} per pair), got {pairs_per_connection}")


def _bound(listener: Callable[[str, E], Awaitable[None]] | None,
              symbol: str) -> Callable[[E], Awaitable[None]] | None:
    if listener is None:
        return None

    async def call(event: E) -> None:
        await listener(symbol, event)

    return call
