"""A small signing HTTP client that talks to the simulator over real HTTP, as a real MEXC
client does: params in the query string, signature last."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from yarl import URL

from daemon.adapters.mexc.auth import encode_params, sign
from daemon.sim import Simulator


class Client:
    """Signs like a real MEXC client: params in the query string, signature last."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim, self.session = sim, session

    async def public(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.session.get(f"{self.sim.rest_url}/api/v3/{path}",
                                    params={k: str(v) for k, v in params.items()}) as r:
            return r.status, await r.json(content_type=None)

    def query(self, params: dict[str, Any], *, ts_ms: int | None = None,
              secret: str | None = None, recv_window: int | None = None) -> str:
        pairs = [(k, str(v)) for k, v in params.items()]
        pairs.append(("timestamp", str(ts_ms if ts_ms is not None else int(time.time() * 1000))))
        if recv_window is not None:
            pairs.append(("recvWindow", str(recv_window)))
        q = encode_params(pairs)
        return q + "&signature=" + sign(secret or self.sim.api_secret, q)

    async def signed(self, method: str, path: str, *, key: str | None = None,
                     headers: dict[str, str] | None = None, raw_query: str | None = None,
                     **kw: Any) -> tuple[int, Any]:
        params = {k: v for k, v in kw.items() if k not in ("ts_ms", "secret", "recv_window")}
        q = raw_query if raw_query is not None else self.query(
            params, ts_ms=kw.get("ts_ms"), secret=kw.get("secret"),
            recv_window=kw.get("recv_window"))
        h = {"X-MEXC-APIKEY": key if key is not None else self.sim.api_key,
             "Content-Type": "application/json", **(headers or {})}
        url = URL(f"{self.sim.rest_url}/api/v3/{path}?{q}", encoded=True)  # bytes as signed
        async with self.session.request(method, url, headers=h) as r:
            return r.status, await r.json(content_type=None)

    async def order(self, **params: Any) -> tuple[int, Any]:
        return await self.signed("POST", "order", **params)

    async def order_by_client_id(self, symbol: str, client_id: str,
                                 timeout_s: float = 8.0) -> Any:
        """GET /order by origClientOrderId, asking again while it answers -2013 (as the real
        MEXC does for a while after a create); the order object."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, body = await self.signed("GET", "order", symbol=symbol,
                                             origClientOrderId=client_id)
            if status == 200 or body.get("code") != -2013 or time.monotonic() > deadline:
                assert status == 200, body
                return body
            await asyncio.sleep(0.1)


async def next_frame(ws: aiohttp.ClientWebSocketResponse, wait_s: float = 3.0
                     ) -> dict[str, Any] | Any:
    """The next message: JSON text as a dict, a binary push as a decoded wrapper."""
    from daemon.adapters.mexc.proto import mexc_push_pb2 as pb

    msg = await ws.receive(timeout=wait_s)
    if msg.type == aiohttp.WSMsgType.TEXT:
        try:
            return json.loads(msg.data)
        except ValueError:
            return msg.data
    if msg.type == aiohttp.WSMsgType.BINARY:
        return pb.PushDataV3ApiWrapper.FromString(msg.data)
    return msg


async def collect(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[Any]:
    """Everything received within ``seconds`` (stops early if the connection closes)."""
    out: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = await next_frame(ws, left)
        except TimeoutError:
            break
        if isinstance(item, aiohttp.WSMessage):
            out.append(item)
            break
        out.append(item)
    return out
