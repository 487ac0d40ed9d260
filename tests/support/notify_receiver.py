"""A local HTTP receiver for notifications: Apprise's generic ``json://`` webhook posts to it.
It keeps every request (headers and JSON body), and can be told to fail the next N requests,
to answer slowly, or to swallow requests without ever answering (a black hole)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.body.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


@dataclass
class Receiver:
    port: int
    got: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many requests
    delay_s: float = 0.0  # answer after this long
    hang_next: int = 0  # never answer this many requests (the client must give up)
    requests: int = 0  # every request seen, failed ones included
    released: asyncio.Event = field(default_factory=asyncio.Event)  # hung requests end

    def url(self, path: str = "hook", auth: str = "") -> str:
        """A json:// Apprise URL posting to this receiver (``auth``: ``user:password@``)."""
        return f"json://{auth}127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        return [r.title for r in self.got]

    def with_title(self, part: str) -> list[Received]:
        return [r for r in self.got if part in r.title]


async def _handle(receiver: Receiver, request: web.Request) -> web.Response:
    receiver.requests += 1
    if receiver.hang_next > 0:
        receiver.hang_next -= 1
        await receiver.released.wait()  # at the end of the test
        return web.Response(status=504, text="hung")
    if receiver.delay_s:
        await asyncio.sleep(receiver.delay_s)
    if receiver.fail_next > 0:
        receiver.fail_next -= 1
        return web.Response(status=500, text="try again")
    body = await request.json()
    receiver.got.append(Received(request.path, dict(request.headers), body))
    return web.Response(text="ok")


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(0)

    async def handle(request: web.Request) -> web.Response:
        return await _handle(rec, request)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)  # the test's logs: the daemon's only
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    rec.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield rec
    finally:
        rec.released.set()
        await runner.cleanup()


@asynccontextmanager
async def black_hole() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a receiver that hangs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
