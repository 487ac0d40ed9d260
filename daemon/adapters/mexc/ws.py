"""MEXC protobuf websocket client (PROTOCOL.md section 5), thin and testable.

``WsStream.run()`` keeps one subscribed connection alive until ``stop()``:
- subscribes one SUBSCRIPTION message per channel and checks each ack by its TEXT (MEXC
  answers failures with code 0 too), binary frames go to ``on_push`` unparsed;
- sends ``{"method":"PING"}`` every ``ping_interval_s``;
- a watchdog drops the connection when nothing (push, ack or PONG) arrived for
  ``stale_after_s`` while the handler was idle;
- reconnects with jittered exponential backoff; ONE classifier (``is_transient``) decides
  whether an error is worth a reconnect or ends ``run()``; a refused subscription ("Blocked!")
  is retried the same way (capped backoff, a new connection each time), said once per
  distinct reason, and ``down_reason`` says why the stream is down (the health check reports
  it when that lasts);
- a push the handler cannot process (anything but a transient error, which reconnects) is
  logged and skipped: one bad message never stops the stream;
- rotates the connection before MEXC's 24-hour cap make-before-break: the new connection is
  subscribed before the old one is closed, so no push is lost (kline pushes carry the whole
  candle state, so the overlap is harmless).
All durations come from ``WsTimings``, so tests run the whole life cycle in a fraction of a
second against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import orjson
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from daemon.config import ExchangeSettings
from daemon.domain.backoff import backoff_s
from daemon.errors import (
    ExchangeError,
    FatalExchangeError,
    InvalidListenKey,
    SubscriptionRejected,
    TransientExchangeError,
)

INVALID_LISTEN_KEY = "Invalid listen key"


@dataclass(frozen=True, slots=True)
class WsTimings:
    ping_interval_s: float = 20.0
    stale_after_s: float = 45.0
    max_age_s: float = 23 * 3600.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    ack_timeout_s: float = 10.0
    open_timeout_s: float = 10.0
    watchdog_tick_s: float | None = None  # default: stale_after_s / 4
    # subscribed, answering PING, but no push for this long: reconnect (None: never; a
    # private stream is silent while nothing happens on the account)
    data_stale_after_s: float | None = None

    @classmethod
    def from_settings(cls, s: ExchangeSettings, *, watch_data: bool = False) -> WsTimings:
        return cls(ping_interval_s=s.ws_ping_interval_s, stale_after_s=s.ws_stale_after_s,
                   data_stale_after_s=s.ws_data_stale_after_s if watch_data else None,
                   max_age_s=s.ws_max_connection_age_s,
                   backoff_max_s=s.ws_reconnect_max_backoff_s,
                   ack_timeout_s=s.request_timeout_ms / 1000,
                   open_timeout_s=s.request_timeout_ms / 1000)


def backoff_delay(attempt: int, timings: WsTimings, rng: Callable[[], float]) -> float:
    """Exponential in ``attempt`` (0-based), capped, with jitter in [50%, 100%]."""
    return backoff_s(attempt, first_s=timings.backoff_initial_s, max_s=timings.backoff_max_s,
                     jitter=0.5 + 0.5 * rng())


def is_transient(exc: BaseException) -> bool:
    """The one classifier: True when reconnecting may help."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return status == 429 or status >= 500
    if isinstance(exc, ExchangeError):
        return isinstance(exc, TransientExchangeError)
    return isinstance(exc, OSError | TimeoutError | ConnectionClosed | InvalidHandshake | EOFError)


def retryable(exc: BaseException) -> bool:
    """Worth another connect: a transient error, or a refused subscription (MEXC refuses
    with "Blocked!" for a while; the health check reports a refusal that lasts)."""
    return is_transient(exc) or isinstance(exc, SubscriptionRejected)


@dataclass(slots=True)
class WsStats:
    connects: int = 0
    reconnects: int = 0
    rotations: int = 0
    stale_drops: int = 0
    silent_drops: int = 0  # connections dropped for pushing no data (data_stale_after_s)
    frames: int = 0
    refusals: int = 0  # subscriptions refused by the server (each retried)
    skipped: int = 0  # pushes the handler failed on (logged, skipped)
    failures: list[str] = field(default_factory=list)  # the latest _FAILURES_KEPT


_FAILURES_KEPT = 100


class _Conn:
    __slots__ = ("early", "last_rx", "opened_at", "ws")

    def __init__(self, ws: ClientConnection, now: float) -> None:
        self.ws = ws
        self.opened_at = now
        self.last_rx = now
        self.early: list[bytes] = []  # pushes that arrived before the last ack


Handler = Callable[[bytes], Awaitable[None]]
Hook = Callable[[str], Awaitable[None]]


class WsStream:
    def __init__(self, name: str, url: Callable[[], Awaitable[str]], channels: Sequence[str],
                 on_push: Handler, *, on_connected: Hook | None = None,
                 on_disconnected: Hook | None = None, timings: WsTimings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[], float] = random.random) -> None:
        if not channels:
            raise ValueError(f"{name}: at least one channel is required")
        self.name = name
        self._url = url
        self.channels = tuple(channels)
        self._on_push = on_push
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.timings = timings or WsTimings()
        self._clock = clock
        self._rng = rng
        self._stopping = False
        self._conn: _Conn | None = None
        self._handover: _Conn | None = None
        self._drop_reason: str | None = None
        self._busy = False
        self.stats = WsStats()
        self.connected = asyncio.Event()
        self.last_failure: BaseException | None = None
        self.down_reason: str | None = None  # why the stream is not connected, if known
        self._said: str | None = None  # the failure last logged (each said once in a row)
        self.running = False  # inside run(): False once it ended (its task died or stopped)
        self._last_data = clock()  # the last push (not an ack or PONG), across reconnects

    # --- control ---------------------------------------------------------------------------
    async def stop(self) -> None:
        self._stopping = True
        conn = self._conn
        if conn is not None:
            await _close(conn.ws)

    def drop(self, reason: str) -> None:
        """Force a reconnect (e.g. the listenKey was replaced)."""
        conn = self._conn
        if conn is not None:
            self._drop_reason = reason
            _abort(conn.ws)

    # --- main loop -------------------------------------------------------------------------
    async def run(self) -> None:
        self.running = True
        self._last_data = self._clock()
        try:
            await self._run()
        finally:
            self.running = False

    async def _run(self) -> None:
        attempt = 0
        reason = "connect"
        while not self._stopping:
            try:
                conn = self._handover or await self._open()
            except Exception as exc:
                if self._stopping:
                    return  # stopped while it connected: the failure is no longer news
                if not retryable(exc):
                    self.down_reason = f"gave up: {exc!r}"
                    logger.error("{}: giving up: {!r}", self.name, exc)
                    if isinstance(exc, InvalidStatus):  # one line naming it, no traceback
                        raise FatalExchangeError(
                            f"{self.name}: the websocket handshake was refused with HTTP "
                            f"{exc.response.status_code}") from exc
                    raise
                delay = backoff_delay(attempt, self.timings, self._rng)
                attempt += 1
                self._failed(exc, f"retry in {delay:.2f} s")
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self._handover = None
            reason = await self._serve(conn, reason)

    def _failed(self, exc: BaseException, then: str) -> None:
        """Record a failed connect or subscribe; log it once while it repeats."""
        self.last_failure = exc
        self.stats.failures.append(repr(exc))
        del self.stats.failures[:-_FAILURES_KEPT]
        refused = isinstance(exc, SubscriptionRejected)
        if refused:
            self.stats.refusals += 1
        why = str(exc) if refused else f"connect failed: {exc!r}"
        self.down_reason = why
        if why != self._said:
            self._said = why
            logger.warning("{}: {}; {} (said once while it repeats)", self.name, why, then)
        else:
            logger.debug("{}: {}; {}", self.name, why, then)

    async def _open(self) -> _Conn:
        url = await self._url()
        ws = await connect(url, ping_interval=None, open_timeout=self.timings.open_timeout_s,
                           close_timeout=1, max_size=2**20)
        conn = _Conn(ws, self._clock())
        try:
            await asyncio.wait_for(self._subscribe(conn), self.timings.ack_timeout_s)
        except TimeoutError:
            _abort(ws)
            raise TimeoutError(f"{self.name}: no subscription ack within "
                               f"{self.timings.ack_timeout_s} s") from None
        except BaseException:
            _abort(ws)
            raise
        self.stats.connects += 1
        return conn

    async def _subscribe(self, conn: _Conn) -> None:
        try:
            await self._subscribe_all(conn)
        except ConnectionClosed:
            # the server may have said why before closing ("Invalid listen key")
            with contextlib.suppress(ConnectionClosed):
                while True:
                    frame = await conn.ws.recv()
                    if isinstance(frame, str):
                        self._text(frame)
            raise

    async def _subscribe_all(self, conn: _Conn) -> None:
        for channel in self.channels:
            await conn.ws.send(orjson.dumps({"method": "SUBSCRIPTION", "params": [channel]})
                               .decode())
            while True:
                frame = await conn.ws.recv()
                conn.last_rx = self._clock()
                if isinstance(frame, bytes):
                    conn.early.append(frame)
                    continue
                msg = self._text(frame)
                if msg == "PONG" or msg is None:
                    continue
                if msg != channel:
                    raise SubscriptionRejected(f"subscription to {channel} refused: "
                                               f"{msg!r}")
                break

    def _text(self, frame: str) -> str | None:
        """The ``msg`` of a JSON text frame (acks, PONG); None for anything else. Raises
        InvalidListenKey for the private stream's refusal."""
        if frame.strip() == INVALID_LISTEN_KEY:
            raise InvalidListenKey(f"{self.name}: server says {INVALID_LISTEN_KEY!r}")
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError:
            data = None
        msg = data.get("msg") if isinstance(data, dict) else None
        if not isinstance(msg, str):
            logger.warning("{}: unexpected text frame {!r}", self.name, frame[:200])
            return None
        return msg

    async def _serve(self, conn: _Conn, reason: str) -> str:
        """Serve one connection; returns the reason the next connection is made."""
        self._conn = conn
        self._drop_reason = None
        helpers = [asyncio.create_task(self._pinger(conn)),
                   asyncio.create_task(self._watchdog(conn)),
                   asyncio.create_task(self._rotator(conn))]
        failure: BaseException | None = None
        try:
            self.connected.set()
            self.down_reason = self._said = None
            logger.info("{}: connected ({})", self.name, reason)
            if self._on_connected is not None:
                await self._on_connected(reason)
            for frame in conn.early:
                await self._deliver(frame)
            conn.early.clear()
            await self._read(conn)
        except Exception as exc:
            failure = exc
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self.connected.clear()
            self._conn = None
            _abort(conn.ws)
        return await self._after(failure)

    async def _after(self, failure: BaseException | None) -> str:
        if self._stopping:
            if self._handover is not None:
                _abort(self._handover.ws)
                self._handover = None
            return "stopped"
        if self._handover is not None and failure is None:
            self.stats.rotations += 1
            return "rotation"
        if failure is not None and not is_transient(failure):
            self.down_reason = f"gave up: {failure!r}"
            raise failure
        self.last_failure = failure
        why = self._drop_reason or (repr(failure) if failure else "closed by server")
        self.down_reason = f"connection lost: {why}"
        logger.warning("{}: connection lost ({}); reconnecting", self.name, why)
        self.stats.reconnects += 1
        if self._on_disconnected is not None:
            await self._on_disconnected(why)
        return "reconnect"

    async def _read(self, conn: _Conn) -> None:
        ws = conn.ws
        try:
            async for frame in ws:
                conn.last_rx = self._clock()
                if isinstance(frame, bytes):
                    await self._deliver(frame)
                elif self._text(frame) not in ("PONG", None):  # raises on an invalid key
                    logger.info("{}: text frame {!r}", self.name, frame[:200])
        except ConnectionClosed:
            if self._handover is None or self._drop_reason is not None:
                raise

    def data_silent_s(self) -> float | None:
        """Seconds since the last push, when the stream watches for silent subscriptions."""
        if self.timings.data_stale_after_s is None:
            return None
        return self._clock() - self._last_data

    async def _deliver(self, frame: bytes) -> None:
        self.stats.frames += 1
        self._last_data = self._clock()
        self._busy = True
        try:
            await self._on_push(frame)
        except Exception as exc:
            if is_transient(exc):
                raise  # e.g. a REST repair that failed: reconnect (and repair again)
            self.stats.skipped += 1
            logger.opt(exception=exc).error("{}: push skipped, its handler failed: {!r} "
                                            "(frame {})", self.name, exc, frame[:64].hex())
        finally:
            self._busy = False
            if self._conn is not None:
                self._conn.last_rx = self._clock()

    # --- helpers (one task each per connection) --------------------------------------------
    async def _pinger(self, conn: _Conn) -> None:
        while True:
            await asyncio.sleep(self.timings.ping_interval_s)
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send('{"method":"PING"}')

    async def _watchdog(self, conn: _Conn) -> None:
        tick = self.timings.watchdog_tick_s or self.timings.stale_after_s / 4
        while True:
            await asyncio.sleep(tick)
            silent = self._clock() - conn.last_rx
            if not self._busy and silent > self.timings.stale_after_s:
                self.stats.stale_drops += 1
                self._drop_reason = f"stale: nothing for {silent:.1f} s"
                _abort(conn.ws)
                return
            if not self._busy and self._data_silent(conn):
                self.stats.silent_drops += 1
                self._drop_reason = (f"no data for {self._clock() - self._last_data:.1f} s "
                                     "(subscribed, answering PING, but no push)")
                _abort(conn.ws)
                return

    def _data_silent(self, conn: _Conn) -> bool:
        """No push on this connection, nor before it, for ``data_stale_after_s``."""
        limit = self.timings.data_stale_after_s
        now = self._clock()
        return limit is not None and now - max(self._last_data, conn.opened_at) > limit

    async def _rotator(self, conn: _Conn) -> None:
        delay = conn.opened_at + self.timings.max_age_s - self._clock()
        await asyncio.sleep(max(delay, 0.0))
        attempt = 0
        while True:
            try:
                fresh = await self._open()
                break
            except Exception as exc:
                if not retryable(exc):
                    raise
                logger.warning("{}: rotation connect failed ({!r}); retrying", self.name, exc)
                await asyncio.sleep(backoff_delay(attempt, self.timings, self._rng))
                attempt += 1
        self._handover = fresh
        logger.info("{}: rotating the connection after {:.0f} s", self.name,
                    self._clock() - conn.opened_at)
        await _close(conn.ws)


def _abort(ws: ClientConnection) -> None:
    transport = ws.transport
    if transport is not None:
        transport.abort()


async def _close(ws: ClientConnection) -> None:
    try:
        await asyncio.wait_for(ws.close(), 1.0)
    except (TimeoutError, ConnectionClosed, OSError):
        _abort(ws)
