"""The REST client against canned real-MEXC replies the simulator never sends (scientific
notation, nulls, HTML bodies, a symbol not enabled for API trading), over a real local HTTP
server (aioresponses does not support this aiohttp version)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials, ExchangeSettings
from daemon.errors import AuthError, ProtocolError, SymbolNotTradable
from tests.support.mexc_vectors import exchange_info as _info


async def test_scientific_notation_and_nulls_over_http() -> None:
    """Canned real-MEXC shapes the simulator never sends, over a real local HTTP server
    (aioresponses does not support this aiohttp version)."""
    routes = {
        "/api/v3/time": b'{"serverTime":"1"}',
        "/api/v3/klines": b'[[0,"1E-5","2e-5","1E-5","1.5E-5",null,300000,"3.9935754907E8"]]',
        "/api/v3/ticker/price": b"<html>oops</html>",
        "/api/v3/account": b'{"msg":"Api key info invalid","code":10072,"_extend":null}',
    }

    async def handler(request: web.Request) -> web.Response:
        status = 400 if request.path == "/api/v3/account" else 200
        return web.Response(body=routes[request.path], status=status,
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = ExchangeSettings(rest_url=f"http://127.0.0.1:{port}")
    creds = Credentials(api_key=SecretStr("k"), api_secret=SecretStr("s"))
    try:
        async with MexcRest(settings, creds) as client:
            rows = await client.klines("X", "Min5", limit=2)
            assert rows[0].close == Decimal("0.000015") and rows[0].volume == 0
            assert rows[0].quote_volume == Decimal("399357549.07")
            with pytest.raises(ProtocolError, match="not JSON"):
                await client.ticker_price("X")
            with pytest.raises(AuthError, match="10072"):
                await client.account()
    finally:
        await runner.cleanup()


async def test_symbol_not_enabled_for_api_trading() -> None:
    """exchangeInfo lists the symbol but defaultSymbols does not: SymbolNotTradable."""
    bodies = {"/api/v3/time": {"serverTime": 1},
              "/api/v3/exchangeInfo": _info(),
              "/api/v3/defaultSymbols": {"code": 200, "data": ["BTCUSDT"], "msg": None}}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(bodies[request.path]),
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    settings = ExchangeSettings(rest_url=f"http://127.0.0.1:{runner.addresses[0][1]}")
    try:
        async with MexcRest(settings, None) as client:
            with pytest.raises(SymbolNotTradable, match="not enabled for API trading"):
                await client.exchange_rules("QRLUSDT")
            bodies["/api/v3/defaultSymbols"] = {"code": 200, "data": ["QRLUSDT"], "msg": None}
            assert (await client.exchange_rules("QRLUSDT")).symbol == "QRLUSDT"
    finally:
        await runner.cleanup()
