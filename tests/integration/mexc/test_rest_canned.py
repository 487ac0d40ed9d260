"""The REST client against canned real-MEXC replies the simulator never sends (scientific
notation, nulls, HTML bodies, a symbol not enabled for API trading), over a real local HTTP
server (aioresponses does not support this aiohttp version)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials, ExchangeSettings
from daemon.errors import AuthError, ConfigError, ProtocolError, SymbolNotTradable
from tests.support.mexc_vectors import exchange_info as _info

Handler = Callable[[web.Request], web.Response]


@asynccontextmanager
async def canned(handler: Handler,
                 creds: Credentials | None = None) -> AsyncIterator[MexcRest]:
    """A MexcRest client talking to a local HTTP server that answers with ``handler``."""

    async def handle(request: web.Request) -> web.Response:
        return handler(request)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    settings = ExchangeSettings(rest_url=f"http://127.0.0.1:{runner.addresses[0][1]}")
    try:
        async with MexcRest(settings, creds) as client:
            yield client
    finally:
        await runner.cleanup()


async def test_scientific_notation_and_nulls_over_http() -> None:
    """Canned real-MEXC shapes the simulator never sends, over a real local HTTP server
    (aioresponses does not support this aiohttp version)."""
    routes = {
        "/api/v3/time": b'{"serverTime":"1"}',
        "/api/v3/klines": b'[[0,"1E-5","2e-5","1E-5","1.5E-5",null,300000,"3.9935754907E8"]]',
        "/api/v3/ticker/price": b"<html>oops</html>",
        "/api/v3/account": b'{"msg":"Api key info invalid","code":10072,"_extend":null}',
    }

    def handler(request: web.Request) -> web.Response:
        status = 400 if request.path == "/api/v3/account" else 200
        return web.Response(body=routes[request.path], status=status,
                            content_type="application/json")

    creds = Credentials(api_key=SecretStr("k"), api_secret=SecretStr("s"))
    async with canned(handler, creds) as client:
        rows = await client.klines("X", "Min5", limit=2)
        assert rows[0].close == Decimal("0.000015") and rows[0].volume == 0
        assert rows[0].quote_volume == Decimal("399357549.07")
        with pytest.raises(ProtocolError, match="not JSON"):
            await client.ticker_price("X")
        with pytest.raises(AuthError, match="10072"):
            await client.account()


async def test_symbol_not_enabled_for_api_trading() -> None:
    """exchangeInfo lists the symbol but defaultSymbols does not: SymbolNotTradable."""
    bodies = {"/api/v3/time": {"serverTime": 1},
              "/api/v3/exchangeInfo": _info(),
              "/api/v3/defaultSymbols": {"code": 200, "data": ["BTCUSDT"], "msg": None}}

    def handler(request: web.Request) -> web.Response:
        return _json(bodies[request.path])

    async with canned(handler) as client:
        with pytest.raises(SymbolNotTradable, match="not enabled for API trading"):
            await client.exchange_rules("QRLUSDT")
        bodies["/api/v3/defaultSymbols"] = {"code": 200, "data": ["QRLUSDT"], "msg": None}
        assert (await client.exchange_rules("QRLUSDT")).symbol == "QRLUSDT"


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def test_invalid_interval_is_a_config_error_naming_the_key() -> None:
    """MEXC's -1121 "Invalid interval." is the config's fault, not "symbol not tradable"."""
    def handler(request: web.Request) -> web.Response:
        if request.path == "/api/v3/time":
            return _json({"serverTime": 1})
        return _json({"code": -1121, "msg": "Invalid interval."}, status=400)

    async with canned(handler) as client:
        with pytest.raises(ConfigError, match=r"exchange\.kline_interval: .*'Week1'"):
            await client.klines("QRLUSDT", "Week1", limit=5)


STEP = 300_000


def _row(t: int) -> list[object]:
    return [t, "1", "1", "1", "1", "10", t + STEP, "10"]


async def test_a_window_answered_with_the_newest_candles_is_asked_again_then_a_gap() -> None:
    """The real exchange answers the newest candles when it ignores startTime: rows outside
    the window asked for are never merged; the window is asked twice, then reported as a gap."""
    asked: list[tuple[str, str]] = []
    newest = 100 * STEP

    def handler(request: web.Request) -> web.Response:
        if request.path == "/api/v3/time":
            return _json({"serverTime": 1})
        asked.append((request.query["startTime"], request.query["endTime"]))
        return _json([_row(newest - STEP), _row(newest)])

    async with canned(handler) as client:
        got = await client.klines_range("QRLUSDT", "Min5", 10 * STEP, 20 * STEP)
    assert got.rows == [] and got.gaps == [(10 * STEP, 20 * STEP)]
    assert asked == [(str(10 * STEP), str(20 * STEP))] * 2 and got.requests == 2


async def test_a_candle_missing_inside_a_window_is_asked_again_then_stays_a_gap() -> None:
    calls = 0

    def handler(request: web.Request) -> web.Response:
        nonlocal calls
        if request.path == "/api/v3/time":
            return _json({"serverTime": 1})
        calls += 1
        start, end = int(request.query["startTime"]), int(request.query["endTime"])
        return _json([_row(t) for t in range(start, end, STEP) if t != 13 * STEP])

    async with canned(handler) as client:
        got = await client.klines_range("QRLUSDT", "Min5", 10 * STEP, 16 * STEP)
    assert [r.open_time_ms // STEP for r in got.rows] == [10, 11, 12, 14, 15]
    assert got.gaps == [(13 * STEP, 14 * STEP)] and calls == 2
