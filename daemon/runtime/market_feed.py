"""Kline stream + REST backfill/repair -> CandleWindow -> crossover events.

At start the window is backfilled from REST klines. Every closed candle after that comes from
the stream (a push with a later windowStart) or from REST; after every reconnect, every stream
gap and every ``poll_interval_s`` (the fallback for quiet markets where no push closes a
candle) the recent candles are re-read from REST and merged, so the window always equals what
REST klines return. Candle timing is taken from the data (windowStart, REST open times), never
from the local clock."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from loguru import logger

from daemon.adapters.mexc import intervals
from daemon.adapters.mexc.kline_pages import MAX_ROWS
from daemon.adapters.mexc.kline_push import KlinePushes
from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsStream, WsTimings
from daemon.config import Settings
from daemon.domain.candles import CandleWindow, ClosedCandle, CrossoverEvent, WindowUpdate
from daemon.domain.models import BookTop, Candle
from daemon.domain.pricing import PriceReference
from daemon.errors import ConfigError, ExchangeError, ProtocolError
from daemon.runtime.balances import UserFeed
from daemon.runtime.supervisor import Supervised, Supervisor

__all__ = ["FeedStats", "Market", "MarketFeed", "MarketView", "PairFeed", "UserFeed"]


def _late_push() -> WindowUpdate:
    return WindowUpdate(ignored_ticks=1)  # a late push of an older window


@dataclass(slots=True)
class FeedStats:
    closed_from_stream: int = 0
    closed_from_rest: int = 0
    repairs: int = 0
    gaps: int = 0
    corrections: int = 0
    bad_frames: int = 0
    events: int = 0
    open_gaps: int = 0  # windows REST did not return when asked (logged)


class MarketView(Protocol):
    """What the decision, the checkpoint and the status read of a pair's market data
    (``PairFeed``; the portfolio's ``HubMarket``)."""

    @property
    def window(self) -> CandleWindow: ...
    @property
    def stream(self) -> WsStream: ...
    @property
    def last_price(self) -> Decimal | None: ...
    @property
    def last_price_ms(self) -> int | None: ...
    @property
    def book(self) -> tuple[BookTop | None, int | None]: ...
    def reference(self) -> PriceReference: ...
    def deaf(self) -> str | None: ...


class Market(MarketView, Protocol):
    """The engine's market: a ``MarketView`` it starts and stops (``MarketFeed``, or a
    portfolio's ``HubMarket`` running every pair's)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class PairFeed:
    """One pair's market data without a connection: its candle window (backfill, REST repair
    and poll, gap repair), MAs and crossover events, last price and book top from the pushes
    handed to ``on_push``. Its owner gives it ``stream``, the connection its channels are
    subscribed on (``MarketFeed``: one of its own; ``MarketHub``: one shared with other
    pairs), and calls ``on_connected``/``on_disconnected`` for that connection."""

    stream: WsStream

    def __init__(self, settings: Settings, rest: MexcRest, *, symbol: str | None = None,
                 on_crossover: Callable[[CrossoverEvent], Awaitable[None]] | None = None,
                 on_candle: Callable[[ClosedCandle], Awaitable[None]] | None = None,
                 wall_ms: Callable[[], int] | None = None, backfill: int = 200,
                 poll_interval_s: float = 60.0, verify_last: int = 3,
                 supervisor: Supervisor | None = None) -> None:
        ex = settings.exchange
        self.symbol = settings.symbol if symbol is None else symbol
        self.interval = ex.kline_interval
        try:
            self.rest_interval = intervals.rest_interval(self.interval)
            step = intervals.interval_ms(self.interval)
        except ValueError as exc:
            raise ConfigError(f"exchange.kline_interval: {exc}") from None
        st = settings.strategy
        self.window = CandleWindow(step, st.ma_short, st.ma_long, deadband=st.deadband,
                                   capacity=backfill)
        self._rest = rest
        self._on_crossover = on_crossover
        self._on_candle = on_candle
        self._backfill = max(min(backfill, 1000), st.ma_long + 2)
        self.poll_interval_s = poll_interval_s
        self._verify_last = verify_last
        self.channels = (intervals.kline_channel(self.symbol, self.interval),
                         intervals.book_ticker_channel(self.symbol))
        self._lock = asyncio.Lock()
        self._supervisor = supervisor or Supervisor()  # the daemon's, or one of its own
        self._units: list[Supervised] = []
        self._rest_price: Decimal | None = None  # the last REST close, until a push arrives
        self._rest_price_ns: int | None = None
        self._clock_ns: Callable[[], int] = (
            time.time_ns if wall_ms is None else (lambda: wall_ms() * 1_000_000))
        self._klines = KlinePushes(self.interval, self._next_window, _late_push, self._clock_ns)
        # Decode one push and feed it to the window (the synchronous hot path: the decoder's
        # own method). A push of the forming window is only remembered (no Decimal, no model
        # object); the work is done once per window, when a push of a later window arrives.
        self.ingest: Callable[[bytes], WindowUpdate | None] = self._klines.push
        self.stats = FeedStats()
        self._traded: Candle | None = None  # the newest REST candle with trades in it

    def start_poll(self, first_after_s: float | None = None) -> None:
        """Run the REST poll every ``poll_interval_s`` (the first after ``first_after_s``, by
        default the same) under the supervisor."""
        self._units.append(self._supervisor.spawn(
            f"market-poll {self.symbol}", functools.partial(self._poll, first_after_s)))

    async def stop_poll(self) -> None:
        """Cancel the units spawned for this pair (its poll; MarketFeed's stream too)."""
        await self._supervisor.cancel(*self._units)
        self._units = []

    async def backfill(self) -> None:
        rows = await self._backfill_rows()
        async with self._lock:
            self.window.apply_rest(rows, emit=False)
        w = self.window
        if rows and self._rest_price is None:
            self._rest_price, self._rest_price_ns = rows[-1].close, self._clock_ns()
        if not w.ready:
            logger.warning("market {}: only {} closed candles, {} needed for MA_{}: NO SIGNAL "
                           "(insufficient_data) until more candles close", self.symbol, len(w),
                           w.long, w.long)
        else:
            logger.info("market {}: backfilled {} candles, MA_{}={} MA_{}={} trend {}",
                        self.symbol, len(w), w.short, w.ma_short, w.long, w.ma_long, w.trend)

    async def _backfill_rows(self) -> list[Candle]:
        """The newest ``backfill`` candles: the newest page (no time: MEXC gives the newest
        ones), then older ones in checked windows ending at its first row."""
        rows = await self._rest.klines(self.symbol, self.rest_interval,
                                       limit=min(self._backfill, MAX_ROWS))
        more = self._backfill - len(rows)
        if rows and more > 0 and len(rows) == MAX_ROWS:
            first, step = rows[0].open_time_ms, self.window.interval_ms
            older = await self._rest.klines_range(self.symbol, self.rest_interval,
                                                  first - more * step, first)
            self._log_gaps(older.gaps, "backfill")
            rows = older.rows + rows
        return rows

    # --- stream ----------------------------------------------------------------------------
    def _next_window(self, start_ms: int, previous: Candle | None,
                     error: ProtocolError | None) -> WindowUpdate:
        if error is not None:  # REST fills it in: the window reports a gap
            self.stats.bad_frames += 1
            logger.error("market {}: unusable final push: {}", self.symbol, error)
        return self.window.on_window_start(start_ms, previous)

    def stream_interrupted(self) -> None:
        """The connection dropped: the forming candle may miss its last push, so it is not
        closed from the stream (REST repairs it)."""
        self._klines.interrupted()

    @property
    def last_price(self) -> Decimal | None:
        """The forming candle's close from the latest push (or REST at startup)."""
        price = self._klines.last_price
        return self._rest_price if price is None else price

    def reference(self) -> PriceReference:
        """The prices that do not come from the book (the kline stream's last price and the
        averages of closed candles): what a book top and an order price are checked against."""
        return PriceReference(self.last_price, self.window.ma_short, self.window.ma_long)

    @property
    def book(self) -> tuple[BookTop | None, int | None]:
        """The latest best bid/ask pushed on the stream, and the wall-clock ms it arrived."""
        ns = self._klines.book_ns
        return self._klines.book, None if ns is None else ns // 1_000_000

    @property
    def last_price_ms(self) -> int | None:
        """Wall-clock ms when ``last_price`` was last updated."""
        ns = self._klines.price_ns
        ns = self._rest_price_ns if ns is None else ns
        return None if ns is None else ns // 1_000_000

    async def on_push(self, frame: bytes) -> None:
        if self._lock.locked():  # a repair is reporting: keep the candles in order
            async with self._lock:
                update = self._ingest_logged(frame)
                if update is not None:
                    await self._report(update)
            if update is not None and update.gap is not None:
                await self._repair_gap(update.gap)
            return
        try:
            update = self.ingest(frame)
        except (ProtocolError, ValueError, ArithmeticError) as exc:  # skipped, never fatal
            self._skipped(exc)
            return
        if update is None:
            return  # the hot path: only the forming candle changed
        self.stats.closed_from_stream += len(update.closed)
        if self._noted(update):  # a listener to await: under the lock, in order
            async with self._lock:  # free, so taken without yielding
                await self._listen(update)
        if update.gap is not None:
            await self._repair_gap(update.gap)

    _on_push = on_push  # its name before the hub (bench_ingest and tests await it)

    async def _repair_gap(self, gap: tuple[int, int]) -> None:
        self.stats.gaps += 1
        logger.info("market {}: stream skipped windows {}..{}; repairing from REST",
                    self.symbol, gap[0], gap[1])
        await self.repair(gap[0], gap[1])

    def _ingest_logged(self, frame: bytes) -> WindowUpdate | None:
        try:
            update = self.ingest(frame)
        except (ProtocolError, ValueError, ArithmeticError) as exc:  # skipped, never fatal
            self._skipped(exc)
            return None
        if update is not None:
            self.stats.closed_from_stream += len(update.closed)
        return update

    def _skipped(self, exc: Exception) -> None:
        self.stats.bad_frames += 1
        logger.error("market {}: push skipped ({}): {}: {}", self.symbol,
                     " or ".join(self.channels), type(exc).__name__, exc)

    async def on_connected(self, reason: str) -> None:
        if reason != "connect":
            await self.repair(None)

    async def on_disconnected(self, reason: str) -> None:
        self.stream_interrupted()

    # --- REST repair -----------------------------------------------------------------------
    async def repair(self, from_ms: int | None, to_ms: int | None = None) -> WindowUpdate:
        """Re-read closed candles of ``[from_ms, to_ms)`` (default: from the last few closed
        ones up to the newest) in checked windows of at most 500 (``kline_pages``) and merge
        them; what REST does not return stays a gap and is logged. Transient REST failures
        propagate to the caller (the stream reconnects)."""
        w = self.window
        last = w.last_closed
        if from_ms is None:
            if last is None:
                await self.backfill()
                return WindowUpdate()
            from_ms = last.open_time_ms - self._verify_last * w.interval_ms
        self.stats.repairs += 1
        got = await self._rest.klines_range(self.symbol, self.rest_interval, from_ms, to_ms)
        self._log_gaps(got.gaps, "repair")
        self.note_rest_candles(got.rows)
        async with self._lock:
            update = w.apply_rest(got.rows)
            self.stats.closed_from_rest += len(update.closed)
            await self._report(update)
        return update

    def note_rest_candles(self, rows: list[Candle]) -> None:
        """Remember the newest closed candle REST showed with trades in it (``deaf``)."""
        for row in rows:
            if row.volume > 0 and (self._traded is None
                                   or row.open_time_ms > self._traded.open_time_ms):
                self._traded = row

    def silent_s(self) -> float | None:
        """Seconds since the last push on this pair's channels, when they are watched for
        silence (``exchange.ws_data_stale_after_s``): here its connection's silence."""
        return self.stream.data_silent_s()

    @property
    def source(self) -> str:
        """What ``deaf`` names as silent."""
        return self.stream.name

    def deaf(self) -> str | None:
        """Why the market subscription is deaf, or None: it has pushed nothing for
        ``exchange.ws_data_stale_after_s`` (the stream reconnects at that point) while REST
        shows trades in a window later than the last one pushed. A market without trades
        may push nothing (MEXC's docs do not say): that alone is not a fault."""
        silent, limit = self.silent_s(), self.stream.timings.data_stale_after_s
        traded = self._traded
        if silent is None or limit is None or silent <= limit or traded is None:
            return None
        pushed = self._klines.last_window_ms
        if pushed is not None and traded.open_time_ms <= pushed:
            return None
        return (f"{self.source} has pushed no data for {silent:.0f} s while REST shows trades "
                f"(candle {traded.open_time_ms}, volume {traded.volume})")

    def _log_gaps(self, gaps: list[tuple[int, int]], what: str) -> None:
        for start, end in gaps:
            self.stats.open_gaps += 1
            logger.warning("market {}: {}: REST klines have no candles for {}..{} (asked "
                           "twice); the gap stays open, nothing is filled in", self.symbol,
                           what, start, end)

    async def _poll(self, first_after_s: float | None = None) -> None:
        delay = self.poll_interval_s if first_after_s is None else first_after_s
        while True:
            await asyncio.sleep(delay)
            delay = self.poll_interval_s
            try:
                await self.repair(None)
            except ExchangeError as exc:
                logger.warning("market {}: REST poll failed: {}", self.symbol, exc)

    def _noted(self, update: WindowUpdate) -> bool:
        """Count and log what ``update`` changed (the corrections, each closed candle without a
        signal, each crossover: logged once, by the listener, the engine); True when a
        listener is to be awaited for it (``_report``)."""
        if update.corrected:
            self.stats.corrections += len(update.corrected)
            logger.warning("market {}: REST corrected {} already evaluated candle(s): {}",
                           self.symbol, len(update.corrected), update.corrected)
        listen = self._on_candle is not None and bool(update.closed)
        for closed in update.closed:
            if closed.trend is None:
                self._no_signal(closed)
            elif closed.crossover is not None:
                self.stats.events += 1
                listen = listen or self._on_crossover is not None
        return listen

    def _no_signal(self, closed: ClosedCandle) -> None:
        logger.warning("market {}: candle {} closed; {} of {} candles for MA_{}: NO SIGNAL "
                       "(insufficient_data)", self.symbol, closed.candle.open_time_ms,
                       len(self.window), self.window.long, self.window.long)

    async def _report(self, update: WindowUpdate) -> None:
        """Count and log ``update`` (``_noted``), then call its listeners (``_listen``)."""
        if self._noted(update):
            await self._listen(update)

    async def _listen(self, update: WindowUpdate) -> None:
        """For each closed candle in order: ``on_candle``, then ``on_crossover`` for its
        crossover."""
        for closed in update.closed:
            if self._on_candle is not None:
                await self._on_candle(closed)
            event = closed.crossover
            if event is not None and self._on_crossover is not None:
                await self._on_crossover(event)


class MarketFeed(PairFeed):
    """One pair on a websocket connection of its own (its kline and book-ticker channels)."""

    def __init__(self, settings: Settings, rest: MexcRest, *,
                 on_crossover: Callable[[CrossoverEvent], Awaitable[None]] | None = None,
                 on_candle: Callable[[ClosedCandle], Awaitable[None]] | None = None,
                 wall_ms: Callable[[], int] | None = None, timings: WsTimings | None = None,
                 backfill: int = 200, poll_interval_s: float = 60.0,
                 verify_last: int = 3, supervisor: Supervisor | None = None) -> None:
        super().__init__(settings, rest, on_crossover=on_crossover, on_candle=on_candle,
                         wall_ms=wall_ms, backfill=backfill, poll_interval_s=poll_interval_s,
                         verify_last=verify_last, supervisor=supervisor)
        ex = settings.exchange
        self.stream = WsStream(
            f"market {self.symbol}", self._url, self.channels, self.on_push,
            on_connected=self.on_connected, on_disconnected=self.on_disconnected,
            timings=timings or WsTimings.from_settings(ex, watch_data=True))
        self._ws_url = ex.ws_url

    async def _url(self) -> str:
        return self._ws_url

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Backfill from REST, then run the stream (and the REST poll) under the supervisor,
        which restarts them when they die."""
        await self.backfill()
        self._units = [self._supervisor.spawn("market-ws", self.stream.run)]
        self.start_poll()

    async def stop(self) -> None:
        await self.stop_poll()
        await self.stream.stop()

    @property
    def running(self) -> bool:
        return any(u.alive for u in self._units)
