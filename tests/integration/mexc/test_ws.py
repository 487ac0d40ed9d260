"""WsStream against real in-process websocket servers scripted to misbehave: ack checking,
PING, watchdog, jittered backoff, make-before-break rotation. Durations are injected (WsTimings),
so a "24-hour" rotation takes a fraction of a second."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve

from daemon.adapters.mexc.ws import (
    WsStream,
    WsTimings,
    backoff_delay,
    is_transient,
)
from daemon.errors import AuthError, InvalidListenKey, SubscriptionRejected

CH = "spot@public.kline.v3.api.pb@QRLUSDT@Min5"
PONG = '{"id":0,"code":0,"msg":"PONG"}'


@dataclass
class Script:
    """What the server does: ack text, whether it answers PING, whether it pushes."""

    ack: Callable[[str], str] = lambda ch: ch
    pong: bool = True
    push_every_s: float | None = None
    first_text: str | None = None
    opened: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)
    pings: int = 0
    seq: int = 0
    live: set[ServerConnection] = field(default_factory=set)


async def _handler(script: Script, ws: ServerConnection) -> None:
    loop = asyncio.get_running_loop()
    script.opened.append(loop.time())
    script.live.add(ws)
    try:
        if script.first_text is not None:
            await ws.send(script.first_text)
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg["method"] == "SUBSCRIPTION":
                await ws.send(orjson.dumps({"id": 0, "code": 0,
                                            "msg": script.ack(msg["params"][0])}).decode())
            elif msg["method"] == "PING":
                script.pings += 1
                if script.pong:
                    await ws.send(PONG)
    except Exception:
        pass
    finally:
        script.live.discard(ws)
        script.closed.append(loop.time())


async def _pusher(script: Script) -> None:
    while True:
        await asyncio.sleep(script.push_every_s or 3600)
        script.seq += 1
        frame = script.seq.to_bytes(4, "big")
        for ws in list(script.live):
            with contextlib.suppress(Exception):
                await ws.send(frame)


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[str]:
    server: Server = await serve(lambda ws: _handler(script, ws), "127.0.0.1", 0)
    pusher = asyncio.create_task(_pusher(script))
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        pusher.cancel()
        server.close()
        await server.wait_closed()


def _stream(url: str, timings: WsTimings, on_push: Callable[[bytes], Awaitable[None]] | None
            = None, **kw: object) -> WsStream:
    async def ignore(_: bytes) -> None:
        return None

    async def url_factory() -> str:
        return url

    return WsStream("test", url_factory, [CH], on_push or ignore, timings=timings,
                    **kw)  # type: ignore[arg-type]


async def _run_for(stream: WsStream, seconds: float) -> None:
    task = asyncio.create_task(stream.run())
    await asyncio.sleep(seconds)
    await stream.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_backoff_is_exponential_capped_and_jittered() -> None:
    t = WsTimings(backoff_initial_s=0.5, backoff_max_s=4)
    assert [backoff_delay(i, t, lambda: 1.0) for i in range(6)] == [0.5, 1, 2, 4, 4, 4]
    assert [backoff_delay(i, t, lambda: 0.0) for i in range(3)] == [0.25, 0.5, 1]


def test_one_classifier() -> None:
    assert is_transient(OSError()) and is_transient(TimeoutError())
    assert is_transient(InvalidListenKey("x"))
    assert not is_transient(SubscriptionRejected("x")) and not is_transient(AuthError("x"))
    assert not is_transient(ValueError())


async def test_rejected_ack_is_retried_with_backoff_on_a_new_connection() -> None:
    # MEXC refuses with code 0 and a text ("Blocked!") for a while: the stream keeps trying
    # (it used to end run() for good: no more candles until a restart)
    refusals = 3

    def ack(ch: str) -> str:
        nonlocal refusals
        if refusals:
            refusals -= 1
            return f"Not Subscribed successfully! [{ch}].  Reason： Blocked! "
        return ch

    script = Script(ack=ack)
    async with scripted(script) as url:
        stream = _stream(url, WsTimings(backoff_initial_s=0.01, backoff_max_s=0.05))
        task = asyncio.create_task(stream.run())
        await asyncio.wait_for(stream.connected.wait(), 5)
        assert stream.down_reason is None
        await stream.stop()
        await asyncio.wait_for(task, 5)
    assert len(script.opened) == 4 and stream.stats.refusals == 3
    assert stream.stats.connects == 1
    assert all("Blocked" in f and "SubscriptionRejected" in f for f in stream.stats.failures)


async def test_pings_keep_a_quiet_connection_alive() -> None:
    script = Script(pong=True)
    timings = WsTimings(ping_interval_s=0.05, stale_after_s=0.2)
    async with scripted(script) as url:
        stream = _stream(url, timings)
        await _run_for(stream, 0.8)
    assert script.pings >= 10
    assert stream.stats.connects == 1 and stream.stats.stale_drops == 0


async def test_watchdog_reconnects_a_silent_connection_with_backoff() -> None:
    script = Script(pong=False)  # acks, then silence: no PONG, no push
    timings = WsTimings(ping_interval_s=0.05, stale_after_s=0.15, backoff_initial_s=0.01)
    disconnects: list[str] = []

    async def on_disconnected(why: str) -> None:
        disconnects.append(why)

    async with scripted(script) as url:
        stream = _stream(url, timings, on_disconnected=on_disconnected)
        await _run_for(stream, 1.0)
    assert stream.stats.stale_drops >= 3 and len(script.opened) >= 4
    assert all(w.startswith("stale") for w in disconnects[:3])


async def test_invalid_listen_key_is_transient_and_asks_for_a_new_url() -> None:
    script = Script(first_text="Invalid listen key")
    urls = 0

    async def url_factory() -> str:
        nonlocal urls
        urls += 1
        return base

    async def ignore(_: bytes) -> None:
        return None

    async with scripted(script) as base:
        stream = WsStream("private", url_factory, [CH], ignore,
                          timings=WsTimings(backoff_initial_s=0.01, backoff_max_s=0.02))
        await _run_for(stream, 0.4)
    assert urls >= 3 and isinstance(stream.last_failure, InvalidListenKey)


async def test_rotation_is_make_before_break_and_loses_no_push() -> None:
    script = Script(push_every_s=0.005)
    got: list[int] = []
    connected: list[str] = []

    async def on_push(frame: bytes) -> None:
        got.append(int.from_bytes(frame, "big"))

    async def on_connected(reason: str) -> None:
        connected.append(reason)

    timings = WsTimings(ping_interval_s=0.05, stale_after_s=1.0, max_age_s=0.25)
    async with scripted(script) as url:
        stream = _stream(url, timings, on_push, on_connected=on_connected)
        await _run_for(stream, 1.2)
    assert stream.stats.rotations >= 3 and stream.stats.reconnects == 0
    assert connected[0] == "connect" and set(connected[1:]) == {"rotation"}
    # each new connection opened before the previous one closed
    for i in range(1, 4):
        assert script.opened[i] < script.closed[i - 1]
    seen = sorted(set(got))
    assert len(seen) > 100
    assert seen == list(range(seen[0], seen[-1] + 1))  # no push lost across rotations
