"""The simulator's websocket endpoint at /ws (public) and /ws?listenKey=K (private).

Client messages are JSON text: SUBSCRIPTION / UNSUBSCRIPTION (acks {"id":0,"code":0,"msg":..}),
PING or ping (answer {"id":0,"code":0,"msg":"PONG"}). Pushes are binary PushDataV3ApiWrapper
frames. Channels: kline (every Min1..Month1), aggre.bookTicker and aggre.deals (the account's
own fills are the public tape) and, with a listenKey, private account/orders/deals.
MEXC's rules: at most ``ws_max_subscriptions`` channels per connection (30; a further one is
refused, code 0 "Not Subscribed successfully! [..].  Reason： more than 30 subscriptions ",
and gets no pushes; UNSUBSCRIPTION frees its place), closed after
``ws_no_sub_timeout_s`` without a subscription or ``ws_idle_timeout_s`` without a client message,
more than ``ws_max_msgs_per_s`` client messages per second closes the connection, an invalid
listenKey gets the text frame ``Invalid listen key``. Faults: delayed and duplicated pushes,
``drop_all`` (abnormal close), ``stall`` (nothing at all is sent for a while), refused
subscriptions and private handshakes (``Faults.ws_refused_subscriptions``,
``Faults.ws_private_handshake_status``); ``inject`` sends one frame of the caller's (e.g. a
malformed push) to every connection subscribed to its channel."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from daemon.sim.engine import AccountEvent, DealEvent, Event, OrderEvent, Trade
from daemon.sim.market import WS_INTERVALS, window_of
from daemon.sim.push import (
    BOOK_PREFIX,
    CH_ACCOUNT,
    CH_DEALS,
    CH_ORDERS,
    DEALS_PREFIX,
    KLINE_PREFIX,
    PRIVATE_CHANNELS,
    account_frame,
    book_ticker_frame,
    deal_frame,
    kline_frame,
    order_frame,
    public_deals_frame,
)

if TYPE_CHECKING:
    from daemon.sim.server import Simulator

_MAX_FINALS_PER_TICK = 1000


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    request: web.Request
    listen_key: str | None
    subs: set[str] = field(default_factory=set)
    queue: asyncio.Queue[tuple[float, str | bytes]] = field(default_factory=asyncio.Queue)
    opened: float = field(default_factory=time.monotonic)
    last_msg: float = field(default_factory=time.monotonic)
    msg_times: deque[float] = field(default_factory=deque)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class WsHub:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.conns: set[Conn] = set()
        self.stall_until = 0.0
        self._kline_last: dict[str, int] = {}  # channel -> window start (ms) last pushed
        self._book_last: dict[str, float] = {}  # bookTicker channel -> real time last pushed

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws", self.handle)

    # -- faults ---------------------------------------------------------------------------
    def drop_all(self) -> None:
        """Abnormal close of every connection (no close frame)."""
        for conn in list(self.conns):
            transport = conn.request.transport
            if transport is not None:
                transport.abort()

    def stall(self, seconds: float) -> None:
        self.stall_until = time.monotonic() + seconds

    def stalled(self) -> bool:
        return time.monotonic() < self.stall_until

    def inject(self, channel: str, frame: bytes) -> int:
        """Send ``frame`` as a push to every connection subscribed to ``channel``; returns
        how many connections it was queued for."""
        targets = [c for c in self.conns if channel in c.subs]
        for conn in targets:
            self._send(conn, frame, push=True)
        return len(targets)

    async def close_all(self) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
            for task in conn.tasks:
                task.cancel()
        self.conns.clear()

    def close_listen_key(self, key: str) -> None:
        for conn in list(self.conns):
            if conn.listen_key == key:
                conn.tasks.append(asyncio.create_task(self._close(conn)))

    async def _close(self, conn: Conn) -> None:
        with contextlib.suppress(Exception):
            await conn.ws.close()

    # -- connection -----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        listen_key = request.query.get("listenKey")
        status = self.sim.faults.ws_private_handshake_status
        if listen_key is not None and status:
            return web.Response(status=status, text=f"simulated handshake refusal {status}")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 16)
        await ws.prepare(request)
        if listen_key is not None and not self.sim.listen_key_valid(listen_key):
            await ws.send_str("Invalid listen key")
            await ws.close()
            return ws
        conn = Conn(ws, request, listen_key)
        self.conns.add(conn)
        conn.tasks = [asyncio.create_task(self._writer(conn)),
                      asyncio.create_task(self._watchdog(conn))]
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if not self._count_message(conn):
                        break
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.PING:
                    if not self.stalled():
                        await ws.pong(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self.conns.discard(conn)
            for task in conn.tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    def _count_message(self, conn: Conn) -> bool:
        now = time.monotonic()
        conn.last_msg = now
        conn.msg_times.append(now)
        while conn.msg_times and conn.msg_times[0] <= now - 1:
            conn.msg_times.popleft()
        return len(conn.msg_times) <= self.sim.cfg.ws_max_msgs_per_s

    async def _writer(self, conn: Conn) -> None:
        while True:
            due, data = await conn.queue.get()
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stalled():
                continue  # a stalled connection sends nothing at all
            try:
                if isinstance(data, bytes):
                    await conn.ws.send_bytes(data)
                else:
                    await conn.ws.send_str(data)
            except (ConnectionError, RuntimeError):
                return
            self.sim.stats["pushes"] += 1

    async def _watchdog(self, conn: Conn) -> None:
        cfg = self.sim.cfg
        while True:
            await asyncio.sleep(min(1.0, cfg.ws_no_sub_timeout_s / 4, cfg.ws_idle_timeout_s / 4))
            now = time.monotonic()
            expired = conn.listen_key is not None and not self.sim.listen_key_valid(
                conn.listen_key)
            if (expired or (not conn.subs and now - conn.opened > cfg.ws_no_sub_timeout_s)
                    or (conn.subs and now - conn.last_msg > cfg.ws_idle_timeout_s)):
                await conn.ws.close()
                return

    def _send(self, conn: Conn, data: str | bytes, *, push: bool = False) -> None:
        due = time.monotonic()
        faults = self.sim.faults
        if push and faults.ws_mute_pushes:
            return
        if push and faults.push_delay_ms:
            due += faults.push_delay_ms / 1000
        conn.queue.put_nowait((due, data))
        if push and self.sim.dice.roll("push_dup", faults.push_duplicate_rate):
            conn.queue.put_nowait((due, data))

    def _reply(self, conn: Conn, msg: str, msg_id: Any = 0) -> None:
        self._send(conn, orjson.dumps({"id": msg_id, "code": 0, "msg": msg}).decode())

    # -- client messages ------------------------------------------------------------------
    def _on_text(self, conn: Conn, text: str) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._reply(conn, f"Invalid JSON: {text[:100]!r}")
            return
        if not isinstance(data, dict):
            self._reply(conn, f"Invalid message: {text[:100]!r}")
            return
        method = str(data.get("method", "")).upper()
        msg_id = data.get("id", 0) if isinstance(data.get("id", 0), int) else 0
        params = data.get("params") or []
        if method == "PING":
            self._reply(conn, "PONG", msg_id)
        elif method == "SUBSCRIPTION" and isinstance(params, list):
            self._subscribe(conn, [str(p) for p in params], msg_id)
        elif method == "UNSUBSCRIPTION" and isinstance(params, list):
            gone = [str(p) for p in params]
            conn.subs.difference_update(gone)
            self._reply(conn, ",".join(gone), msg_id)
        else:
            self._reply(conn, f"Invalid method or params: {text[:100]!r}", msg_id)

    def _subscribe(self, conn: Conn, channels: list[str], msg_id: Any) -> None:
        ok: list[str] = []
        failed: list[tuple[str, str]] = []
        faults = self.sim.faults
        for ch in channels:
            reason = self._check_channel(conn, ch)
            if reason is None and faults.ws_refused_subscriptions > 0:
                faults.ws_refused_subscriptions -= 1
                reason = faults.ws_refusal
            if reason is None and ch not in conn.subs and (
                    len(conn.subs) >= self.sim.cfg.ws_max_subscriptions):
                reason = f"more than {self.sim.cfg.ws_max_subscriptions} subscriptions"
            if reason is None:
                conn.subs.add(ch)
                ok.append(ch)
            else:
                failed.append((ch, reason))
        if ok:
            self._reply(conn, ",".join(ok), msg_id)
        # MEXC names the refused channels of one reason together: "[a,b]"
        for reason, group in itertools.groupby(failed, key=lambda item: item[1]):
            names = ",".join(ch for ch, _ in group)
            self._reply(conn, f"Not Subscribed successfully! [{names}].  Reason： {reason} ",
                        msg_id)

    def _check_channel(self, conn: Conn, ch: str) -> str | None:
        if ch in PRIVATE_CHANNELS:
            return None if conn.listen_key else "private channel needs /ws?listenKey=..."
        if ch.startswith(KLINE_PREFIX):
            parts = ch[len(KLINE_PREFIX):].split("@")
            if len(parts) != 2:
                return "expected spot@public.kline.v3.api.pb@<SYMBOL>@<interval>"
            symbol, interval = parts
            if symbol not in self.sim.markets:
                return f"unknown symbol {symbol!r} (symbols are UPPERCASE)"
            if interval not in WS_INTERVALS:
                return f"unknown interval {interval!r} (one of {', '.join(WS_INTERVALS)})"
            return None
        for prefix in (BOOK_PREFIX, DEALS_PREFIX):
            if ch.startswith(prefix):
                parts = ch[len(prefix):].split("@")
                if len(parts) != 2 or parts[0] not in ("100ms", "10ms"):
                    return f"expected {prefix}(100ms|10ms)@<SYMBOL>"
                if parts[1] not in self.sim.markets:
                    return f"unknown symbol {parts[1]!r} (symbols are UPPERCASE)"
                return None
        if not ch.endswith(".pb") and ".pb@" not in ch:
            return "Blocked!"  # the JSON channels are gone on the real MEXC
        return "channel not supported by the simulator"

    # -- pushes ---------------------------------------------------------------------------
    def publish_private(self, events: list[Event]) -> None:
        self._publish_deals([ev.trade for ev in events if isinstance(ev, DealEvent)])
        targets = [c for c in self.conns if c.listen_key and c.subs & set(PRIVATE_CHANNELS)]
        if not targets:
            return
        send_ms = self.sim.now_ms()
        for ev in events:
            if isinstance(ev, AccountEvent):
                ch, frame = CH_ACCOUNT, account_frame(ev, send_ms)
            elif isinstance(ev, OrderEvent):
                ch, frame = CH_ORDERS, order_frame(
                    ev, send_ms, ref_price=self.sim.realism.wire_types)
            elif isinstance(ev, DealEvent):
                ch, frame = CH_DEALS, deal_frame(ev, send_ms)
            else:  # pragma: no cover - exhaustive
                continue
            for conn in targets:
                if ch in conn.subs:
                    self._send(conn, frame, push=True)

    def _publish_deals(self, trades: list[Trade]) -> None:
        if not trades:
            return
        send_ms = self.sim.now_ms()
        for ch in {ch for c in self.conns for ch in c.subs if ch.startswith(DEALS_PREFIX)}:
            symbol = ch.rsplit("@", 1)[1]
            mine = [t for t in trades if t.symbol == symbol]
            if mine:
                frame = public_deals_frame(ch, symbol, mine, send_ms)
                for conn in self.conns:
                    if ch in conn.subs:
                        self._send(conn, frame, push=True)

    def book_tick(self, now_ms: int) -> None:
        """Push the best bid/ask of every subscribed bookTicker channel (at most every 100 ms
        of real time for the 100ms channels)."""
        now = time.monotonic()
        if self.sim.faults.ws_mute_book_ticker:
            return
        for ch in {ch for c in self.conns for ch in c.subs if ch.startswith(BOOK_PREFIX)}:
            speed, symbol = ch[len(BOOK_PREFIX):].split("@")
            if speed == "100ms" and now - self._book_last.get(ch, 0.0) < 0.1:
                continue
            self._book_last[ch] = now
            bids, asks = self.sim.book(symbol)
            if not bids or not asks:
                continue
            frame = book_ticker_frame(ch, symbol, bids[0], asks[0], now_ms)
            for conn in self.conns:
                if ch in conn.subs:
                    self._send(conn, frame, push=True)

    def kline_tick(self, now_ms: int) -> None:
        """Push the forming candle of every subscribed kline channel; when a window closed
        since the last push, first push the final state of each closed window."""
        channels = {ch for c in self.conns for ch in c.subs if ch.startswith(KLINE_PREFIX)}
        for ch in list(self._kline_last):
            if ch not in channels:
                del self._kline_last[ch]
        for ch in channels:
            frames = self._kline_frames(ch, now_ms)
            if not frames:
                continue
            for conn in self.conns:
                if ch in conn.subs:
                    for frame in frames:
                        self._send(conn, frame, push=True)

    def _kline_frames(self, ch: str, now_ms: int) -> list[bytes]:
        symbol, ws_interval = ch[len(KLINE_PREFIX):].split("@")
        interval = WS_INTERVALS[ws_interval]
        market = self.sim.markets[symbol]
        start, end = window_of(interval, now_ms)
        frames: list[bytes] = []
        last = self._kline_last.get(ch)
        if last is not None and last < start:
            w, n = last, 0
            while w < start and n < _MAX_FINALS_PER_TICK:
                w_end = window_of(interval, w)[1]
                bar = market.candle(interval, w, now_ms)
                if bar is not None:
                    frames.append(kline_frame(ch, symbol, ws_interval, bar, w_end, now_ms))
                w, n = w_end, n + 1
            del self._kline_last[ch]
        if market.has_candle_at(now_ms):
            bar = market.candle(interval, start, now_ms)
            if bar is not None:
                frames.append(kline_frame(ch, symbol, ws_interval, bar, end, now_ms))
                self._kline_last[ch] = start
        return frames
