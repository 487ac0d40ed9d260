"""REST API of the simulator: MEXC Spot v3 paths under /api/v3, MEXC's signing, error codes and
rate limits, and the real exchange's departures from its docs (PROTOCOL.md 9, ``Realism``).
Every reported time is simulated time; the timestamp check is ``daemon.sim.clock``'s rule;
rate limits and listenKey expiry run on the real clock (see daemon.sim.server)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from daemon.adapters.mexc.auth import verify
from daemon.sim import bad_replies
from daemon.sim.clock import real_ms
from daemon.sim.config import OrderAttempt
from daemon.sim.engine import Order, SimError
from daemon.sim.limits import RateLimiter
from daemon.sim.market import REST_INTERVALS
from daemon.sim.orders import check_client_id, missing, parse_int, parse_order
from daemon.sim.replies import cancel_reply, order_object, post_reply, trade_row
from daemon.sim.restdata import (
    account,
    avg_price,
    book_ticker,
    depth,
    exchange_info,
    kline_rows,
    ticker_24hr,
    ticker_price,
)

if TYPE_CHECKING:
    from daemon.sim.server import Simulator

Params = dict[str, str]
Handler = Callable[["Simulator", Params, web.Request], Awaitable[Any]]


class DropConnection(Exception):
    """Close the connection without a reply (lost reply fault, failing hook)."""


class GarbledReply(Exception):
    """Answer 200 with a body that is not JSON (garbled reply fault)."""


GARBLED_BODY = b'{"symbol":"QRLUSDT","orderId":"C02__'  # cut off mid-reply


@dataclass(frozen=True)
class Route:
    fn: Handler
    signed: bool
    weight: int
    order_rate: bool = False  # counts toward the new order + cancel per-second cap


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                        headers=headers)


def _error(err: SimError, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"msg": err.msg, "code": err.code, "_extend": None}, err.http_status, headers)


def _parse_params(raw_query: str, raw_body: str) -> Params:
    """Query string and body (form-encoded or a JSON object); the query string wins."""
    params: Params = {}
    body = raw_body.strip()
    if body.startswith("{"):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SimError(400, "request body is not valid JSON") from None
        if isinstance(obj, dict):
            params.update({str(k): str(v) for k, v in obj.items()})
    elif body:
        params.update(parse_qsl(body, keep_blank_values=True))
    params.update(parse_qsl(raw_query, keep_blank_values=True))
    params.pop("signature", None)
    return params


def _authenticate(sim: Simulator, request: web.Request, params: Params, raw_query: str,
                  raw_body: str) -> None:
    key = request.headers.get("X-MEXC-APIKEY")
    if not key:
        raise SimError(400, "api key required")
    if key != sim.cfg.api_key:
        raise SimError(10072, "Api key info invalid")
    if sim.realism.missing_signature_700004 and not _has_signature(raw_query, raw_body):
        raise SimError(700004, "Mandatory parameter 'signature' was not sent, was empty/null, "
                               "or malformed.")
    if not params.get("timestamp"):
        raise missing("timestamp")
    try:
        timestamp = int(params["timestamp"])
    except ValueError:
        raise SimError(400, f"param timestamp is invalid: {params['timestamp']!r}") from None
    recv_window = parse_int(params, "recvWindow", 5000, lo=1) or 5000
    if recv_window > 60000:
        raise SimError(700005, "recvWindow must less than 60000")
    if not sim.signing.accepts(timestamp, recv_window, real_ms()):
        raise SimError(700003, "Timestamp for this request is outside of the recvWindow.")
    body = "" if raw_body.strip().startswith("{") else raw_body
    if not verify(sim.cfg.api_secret, raw_query, body):
        raise SimError(700002, "Signature for this request is not valid.")


def _has_signature(raw_query: str, raw_body: str) -> bool:
    return any(pair.startswith("signature=") and len(pair) > len("signature=")
               for raw in (raw_query, raw_body) for pair in raw.split("&"))


def _symbol(sim: Simulator, params: Params, *, required: bool = True) -> str | None:
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise missing("symbol")
        return None
    if symbol not in sim.specs:
        raise SimError(-1121, "Invalid symbol.")
    return symbol


# -- public market data ----------------------------------------------------------------------
async def ping(sim: Simulator, p: Params, r: web.Request) -> Any:
    return {}


async def server_time(sim: Simulator, p: Params, r: web.Request) -> Any:
    return {"serverTime": sim.server_time_ms()}


async def get_exchange_info(sim: Simulator, p: Params, r: web.Request) -> Any:
    wanted: list[str] | None = None
    if p.get("symbol"):
        wanted = [p["symbol"]]
    elif p.get("symbols"):
        wanted = [s for s in p["symbols"].split(",") if s]
    if wanted is not None:
        for s in wanted:
            if s not in sim.specs:
                raise SimError(-1121, "Invalid symbol.")
    return exchange_info(sim, wanted)


async def get_klines(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p)
    assert symbol is not None
    interval = p.get("interval")
    if not interval:
        raise missing("interval")
    if interval not in REST_INTERVALS:
        raise SimError(-1121, "Invalid interval.")
    realism = sim.realism
    limit = min(parse_int(p, "limit", 500, lo=1, hi=1000) or 500, realism.kline_max_rows)
    start = parse_int(p, "startTime", None)
    end = parse_int(p, "endTime", None)
    if start is not None and end is None and realism.kline_start_needs_end:
        start = None  # not honoured without endTime: the newest rows (captured)
    if end is not None and realism.kline_end_exclusive:
        end -= 1  # a candle opening at endTime is not returned
    return kline_rows(sim, symbol, interval, start, end, limit)


async def get_depth(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p)
    assert symbol is not None
    limit = parse_int(p, "limit", 100, lo=1, hi=5000) or 100
    return depth(sim, symbol, limit)


async def get_ticker_price(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p, required=False)
    if symbol is None:
        return [ticker_price(sim, s) for s in sim.specs]
    return ticker_price(sim, symbol)


async def get_book_ticker(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p, required=False)
    if symbol is None:
        return [book_ticker(sim, s) for s in sim.specs]
    return book_ticker(sim, symbol)


async def get_ticker_24hr(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p, required=False)
    if symbol is None:
        return [ticker_24hr(sim, s) for s in sim.specs]
    return ticker_24hr(sim, symbol)


async def get_avg_price(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p)
    assert symbol is not None
    return avg_price(sim, symbol)


async def default_symbols(sim: Simulator, p: Params, r: web.Request) -> Any:
    """Symbols tradable through the API (legacy envelope, as MEXC sends it)."""
    return {"code": 200, "data": [s for s, spec in sim.specs.items()
                                  if spec.spot_trading_allowed], "msg": None}


# -- account and orders ----------------------------------------------------------------------
async def get_account(sim: Simulator, p: Params, r: web.Request) -> Any:
    return account(sim)


async def post_order(sim: Simulator, p: Params, r: web.Request) -> Any:
    client_id = p.get("newClientOrderId") or None
    if sim.hooks.before_order is not None:
        await _hook(sim, client_id, p, sim.hooks.before_order, dict(p))
    try:
        mid = _mid(sim, p)
        req = parse_order(p, sim.specs, mid)
        order = sim.engine.place(req, sim.now_ms(), ref_price=mid or Decimal(0))
    except SimError as err:
        sim.order_requests.append(OrderAttempt(client_id, dict(p), f"rejected:{err.code}"))
        raise
    order.blank_client_id = sim.draw_blank_client_id()
    sim.hide_after_create(order.order_id)
    await sim.flush_events()
    if sim.hooks.after_order is not None:
        await _hook(sim, client_id, p, sim.hooks.after_order, order.to_mexc(), order.order_id)
    if sim.dice.roll("lost_reply", sim.faults.lost_reply_rate):
        sim.order_requests.append(OrderAttempt(client_id, dict(p),
                                               f"lost_reply:{order.order_id}"))
        await _hang(sim)
        raise DropConnection
    if sim.dice.roll("garbled_reply", sim.faults.garbled_reply_rate):
        sim.order_requests.append(OrderAttempt(client_id, dict(p), f"garbled:{order.order_id}"))
        raise GarbledReply
    sim.order_requests.append(OrderAttempt(client_id, dict(p), f"accepted:{order.order_id}"))
    return post_reply(order, sim.realism,
                      minimal=sim.dice.roll("minimal_order", sim.realism.minimal_replies))


async def _hook(sim: Simulator, client_id: str | None, p: Params,
                fn: Callable[[Any], Awaitable[None]], arg: Any, oid: str = "-") -> None:
    try:
        await fn(arg)
    except asyncio.CancelledError:
        raise
    except Exception:
        sim.order_requests.append(OrderAttempt(client_id, dict(p), f"killed:{oid}"))
        raise DropConnection from None


async def _hang(sim: Simulator) -> None:
    if sim.faults.lost_reply_hang_s > 0:
        await asyncio.sleep(sim.faults.lost_reply_hang_s)


def _mid(sim: Simulator, p: Params) -> Decimal | None:
    symbol = p.get("symbol")
    return sim.markets[symbol].price_at(sim.now_ms()) if symbol in sim.markets else None


async def post_order_test(sim: Simulator, p: Params, r: web.Request) -> Any:
    parse_order(p, sim.specs, _mid(sim, p))
    return {}


def _find(sim: Simulator, p: Params, unknown: SimError) -> Order:
    symbol = _symbol(sim, p)
    assert symbol is not None
    order_id = p.get("orderId") or None
    client_id = check_client_id(p.get("origClientOrderId"), "origClientOrderId")
    if order_id is None and client_id is None:
        raise SimError(700004, "Param 'origClientOrderId' or 'orderId' must be sent, "
                               "but both were empty/null")
    order = sim.engine.find(symbol, order_id, client_id)
    if order is None:
        raise unknown
    return order


async def get_order(sim: Simulator, p: Params, r: web.Request) -> Any:
    not_found = SimError(-2013, "Order does not exist.")
    order = _find(sim, p, not_found)
    seen = sim.order_queries[order.order_id] = sim.order_queries.get(order.order_id, 0) + 1
    if seen <= sim.faults.unknown_order_queries:
        raise not_found
    if not p.get("orderId") and sim.hidden(order.order_id):
        raise not_found  # by client id right after the create (PROTOCOL.md 9)
    return order_object(order, sim.realism)


def _cancel_reply(sim: Simulator, order: Order, cancel_id: str | None) -> dict[str, Any]:
    return cancel_reply(order, sim.realism, cancel_id=cancel_id or sim.new_cancel_client_id(),
                        minimal=sim.dice.roll("minimal_cancel", sim.realism.minimal_replies))


async def delete_order(sim: Simulator, p: Params, r: web.Request) -> Any:
    if sim.hooks.before_cancel is not None:
        await _hook(sim, None, p, sim.hooks.before_cancel, dict(p))
    order = _find(sim, p, SimError(-2011, "Unknown order sent."))
    cancel_id = check_client_id(p.get("newClientOrderId"), "newClientOrderId")
    sim.engine.cancel(order, sim.now_ms())
    await sim.flush_events()
    if sim.hooks.after_cancel is not None:
        await _hook(sim, None, p, sim.hooks.after_cancel, order.to_mexc())
    if sim.dice.roll("lost_reply", sim.faults.lost_reply_rate):
        await _hang(sim)
        raise DropConnection
    if sim.dice.roll("garbled_reply", sim.faults.garbled_reply_rate):
        raise GarbledReply
    return _cancel_reply(sim, order, cancel_id)


async def get_open_orders(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p, required=False)
    return [order_object(o, sim.realism) for o in sim.engine.open_orders(symbol)]


async def delete_open_orders(sim: Simulator, p: Params, r: web.Request) -> Any:
    raw = p.get("symbol")
    if not raw:
        raise missing("symbol")
    symbols = [s for s in raw.split(",") if s]
    if len(symbols) > 5:
        raise SimError(400, f"param symbol is invalid: {raw!r} (at most 5 symbols)")
    for s in symbols:
        if s not in sim.specs:
            raise SimError(-1121, "Invalid symbol.")
    out = []
    for s in symbols:
        for order in sim.engine.open_orders(s):
            sim.engine.cancel(order, sim.now_ms())
            out.append(cancel_reply(order, sim.realism, cancel_id=sim.new_cancel_client_id(),
                                    minimal=False))
    await sim.flush_events()
    return out


DAY_MS = 86_400_000
ALL_ORDERS_KEEP_MS = 7 * DAY_MS  # allOrders: max last 7 days (PROTOCOL.md 2.2)
MY_TRADES_KEEP_MS = 30 * DAY_MS  # myTrades: only last 1 month


async def get_all_orders(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p)
    limit = parse_int(p, "limit", 500, lo=1, hi=1000) or 500
    now = sim.now_ms()
    start = parse_int(p, "startTime", None)
    end = parse_int(p, "endTime", None)
    if start is None and end is None:
        start = now - 24 * 3600 * 1000  # MEXC: default window is the last 24 hours
    if sim.realism.history_retention:
        if start is not None and (now if end is None else end) - start > ALL_ORDERS_KEEP_MS:
            raise SimError(400, f"param startTime is invalid: {start!r} (the window to "
                                "endTime may span at most 7 days)")
        start = max(start or 0, now - ALL_ORDERS_KEEP_MS)  # older orders are not kept
    rows = [o for o in sim.engine.orders.values() if o.symbol == symbol
            and (start is None or o.time_ms >= start) and (end is None or o.time_ms <= end)]
    return [order_object(o, sim.realism) for o in rows[-limit:]]


async def get_my_trades(sim: Simulator, p: Params, r: web.Request) -> Any:
    symbol = _symbol(sim, p)
    limit = parse_int(p, "limit", 100, lo=1, hi=100) or 100
    order_id = p.get("orderId") or None
    start = parse_int(p, "startTime", None)
    end = parse_int(p, "endTime", None)
    kept = sim.now_ms() - MY_TRADES_KEEP_MS if sim.realism.history_retention else None
    rows = [t for t in sim.engine.trades if t.symbol == symbol
            and (order_id is None or t.order_id == order_id)
            and (kept is None or t.time_ms >= kept)
            and (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)]
    rows = rows[:limit] if start is not None else rows[-limit:]
    return [trade_row(t, sim.engine.orders.get(t.order_id), sim.realism) for t in rows]


async def user_data_stream(sim: Simulator, p: Params, r: web.Request) -> Any:
    if r.method == "POST":
        return {"listenKey": sim.new_listen_key()}
    if r.method == "GET":
        return {"listenKey": [k for k in sim.listen_keys if sim.listen_key_valid(k)]}
    key = p.get("listenKey")
    if not key:
        raise missing("listenKey")
    if not sim.listen_key_valid(key):
        raise SimError(400, f"listenKey does not exist or expired: {key!r}")
    if r.method == "PUT":
        sim.listen_keys[key] = time.time() + sim.cfg.listen_key_ttl_s
    else:
        del sim.listen_keys[key]
        sim.hub.close_listen_key(key)
    return {"listenKey": key}


async def capital_config(sim: Simulator, p: Params, r: web.Request) -> Any:
    """GET /api/v3/capital/config/getall: the coins (no deposit/withdraw networks here)."""
    assets = sorted({a for s in sim.specs.values() for a in (s.base_asset, s.quote_asset)})
    return [{"coin": a, "name": a, "networkList": []} for a in assets]


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "capital/config/getall"): Route(capital_config, True, 10),
    ("GET", "ping"): Route(ping, False, 1),
    ("GET", "time"): Route(server_time, False, 1),
    ("GET", "exchangeInfo"): Route(get_exchange_info, False, 10),
    ("GET", "klines"): Route(get_klines, False, 1),
    ("GET", "depth"): Route(get_depth, False, 1),
    ("GET", "ticker/price"): Route(get_ticker_price, False, 1),
    ("GET", "ticker/bookTicker"): Route(get_book_ticker, False, 1),
    ("GET", "ticker/24hr"): Route(get_ticker_24hr, False, 1),
    ("GET", "avgPrice"): Route(get_avg_price, False, 1),
    ("GET", "defaultSymbols"): Route(default_symbols, False, 1),
    ("GET", "selfSymbols"): Route(default_symbols, True, 1),
    ("GET", "account"): Route(get_account, True, 10),
    ("POST", "order"): Route(post_order, True, 1, order_rate=True),
    ("POST", "order/test"): Route(post_order_test, True, 1),
    ("GET", "order"): Route(get_order, True, 2),
    ("DELETE", "order"): Route(delete_order, True, 1, order_rate=True),
    ("GET", "openOrders"): Route(get_open_orders, True, 3),
    ("DELETE", "openOrders"): Route(delete_open_orders, True, 1),
    ("GET", "allOrders"): Route(get_all_orders, True, 10),
    ("GET", "myTrades"): Route(get_my_trades, True, 10),
    ("POST", "userDataStream"): Route(user_data_stream, True, 1),
    ("GET", "userDataStream"): Route(user_data_stream, True, 1),
    ("PUT", "userDataStream"): Route(user_data_stream, True, 1),
    ("DELETE", "userDataStream"): Route(user_data_stream, True, 1),
}


def setup_routes(app: web.Application, sim: Simulator) -> None:
    limiter = sim.limiter

    async def dispatch(request: web.Request) -> web.StreamResponse:
        sim.stats["requests"] += 1
        sim.requests_seen[f"{request.method} {request.path}"] += 1
        route = ROUTES.get((request.method, request.match_info["tail"]))
        if route is None:
            return _json({"msg": f"no such endpoint: {request.method} {request.path}",
                          "code": 404}, 404)
        try:
            return await _serve(sim, limiter, route, request)
        except DropConnection:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        except GarbledReply:
            return web.Response(body=GARBLED_BODY, status=200, content_type="application/json")

    async def no_contracts(request: web.Request) -> web.Response:
        # MEXC's futures API lives elsewhere; a spot-only venue lists no contracts, so spot
        # clients that also load futures markets (ccxt) start up.
        return _json({"success": True, "code": 0, "data": []})

    app.router.add_route("*", "/api/v3/{tail:.*}", dispatch)
    app.router.add_get("/api/v1/contract/detail", no_contracts)


async def _serve(sim: Simulator, limiter: RateLimiter, route: Route,
                 request: web.Request) -> web.StreamResponse:
    is_order = route.fn is post_order
    raw_query = request.rel_url.raw_query_string
    raw_body = await request.text() if request.can_read_body else ""
    try:
        params = _parse_params(raw_query, raw_body)
        who = request.headers.get("X-MEXC-APIKEY") or (request.remote or "?")
        if sim.dice.roll("429", sim.faults.rate_limit_rate):
            wait: float | None = float(sim.faults.retry_after_s)
        else:
            wait = limiter.admit(who, route.weight, route.order_rate)
        if wait is not None:
            if is_order:
                sim.order_requests.append(OrderAttempt(params.get("newClientOrderId") or None,
                                                       params, "429"))
            return _error(SimError(429, "Too Many Requests", 429),
                          {"Retry-After": str(max(1, math.ceil(wait)))})
        if sim.dice.roll("5xx", sim.faults.http_5xx_rate):
            if is_order:
                sim.order_requests.append(OrderAttempt(params.get("newClientOrderId") or None,
                                                       params, "5xx"))
            return _json({"msg": "Service Unavailable", "code": 503}, 503)
        if route.signed:
            try:
                _authenticate(sim, request, params, raw_query, raw_body)
            except SimError as err:
                if is_order:
                    sim.order_requests.append(OrderAttempt(
                        params.get("newClientOrderId") or None, params, f"rejected:{err.code}"))
                raise
        bad = bad_replies.pick(sim.faults, sim.bad_reply_seen, request.method, request.path)
        if bad is not None and (early := bad_replies.before(bad)) is not None:
            return early
        reply = _json(await route.fn(sim, params, request))
        return reply if bad is None else bad_replies.after(bad, reply)
    except SimError as err:
        return _error(err)
