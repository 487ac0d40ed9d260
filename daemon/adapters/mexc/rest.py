"""MEXC Spot v3 REST client (PROTOCOL.md sections 1, 2, 4).

One aiohttp session; every parameter travels in the query string (also for POST/PUT/DELETE, as
ccxt and pymexc do), signed over the exact encoded bytes sent, ``signature`` last. The server
time offset comes from /api/v3/time and is refreshed on 700003. Errors are mapped into
daemon.errors by ONE classifier (``classify_error``); retries with backoff happen only where a
retry cannot duplicate an effect: placing and cancelling orders are never retried and raise
OutcomeUnknown when their answer is lost (timeout, 5xx, connection reset), cannot be read
(not JSON, not the documented shape) or is not clearly a refusal (a 200 {"code","msg"}, an
unknown code): never ProtocolError nor "rejected", as the request may have taken effect. The
cause is the OutcomeUnknown's ``__cause__``."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from loguru import logger
from yarl import URL

from daemon.adapters.mexc import intervals, parsing
from daemon.adapters.mexc.auth import encode_params, sign
from daemon.adapters.mexc.kline_pages import MAX_ROWS, KlineRange, read_range
from daemon.adapters.mexc.ratelimit import RateLimiter
from daemon.config import Credentials, ExchangeSettings
from daemon.domain.backoff import backoff_s
from daemon.domain.models import Balance, BookTop, Candle, ExchangeRules, Fill, OrderReport, Side
from daemon.domain.money import fmt
from daemon.errors import (
    AuthError,
    ConfigError,
    ExchangeError,
    ExchangeUnavailable,
    FatalExchangeError,
    OrderRejected,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    SymbolNotTradable,
    TimestampOutOfWindow,
    UnknownOrder,
)

AUTH_CODES = frozenset({401, 403, 602, 10072, 10073, 10075, 700001, 700002, 700004, 700006,
                        700007})
UNKNOWN_ORDER_CODES = frozenset({-2011, -2013})
SYMBOL_CODES = frozenset({-1121, 10007, 30000, 30014, 30016, 30020, 30021, 70011})
REJECT_CODES = frozenset({26, 10101, 30001, 30002, 30003, 30004, 30005, 30010, 30018, 30019,
                          30029, 30032, 30041, 30051})
# The codes MEXC documents for a request it refused (PROTOCOL.md section 4, and 603 "Repeated
# request", 30087 "Order price exceeds allowed range"): only such a code, with an HTTP 4xx, tells
# that an order or cancel took no effect.
REFUSAL_CODES = AUTH_CODES | UNKNOWN_ORDER_CODES | SYMBOL_CODES | REJECT_CODES | frozenset({
    400, 429, 603, -1128, 30087, 33333, 44444, 700003, 700005, 700008})
DEFAULT_RETRY_AFTER_S = 10.0
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # the safe rule (PROTOCOL.md 2.2.1)


def classify_error(http_status: int, code: int | None, msg: str, *,
                   retry_after_s: float | None = None, what: str = "") -> ExchangeError:
    """The one mapping from an HTTP status + MEXC code to the project's error tree. ``what``
    ("GET /api/v3/exchangeInfo") leads the message, so that every error names its request."""
    text = (f"{what}: " if what else "") + f"MEXC HTTP {http_status}" + \
        (f" code {code}" if code is not None else "") + (f": {msg.strip()}" if msg else "")
    kw: dict[str, Any] = {"code": code, "http_status": http_status}
    if http_status in (418, 429) or code == 429:
        return RateLimited(text, retry_after_s=retry_after_s or DEFAULT_RETRY_AFTER_S, **kw)
    if http_status >= 500:
        return ExchangeUnavailable(text, **kw)
    if code == 700003:
        return TimestampOutOfWindow(text, **kw)
    if code in UNKNOWN_ORDER_CODES:
        return UnknownOrder(text, **kw)
    if code in AUTH_CODES or (code is None and http_status in (401, 403)):
        return AuthError(text, **kw)
    if code in SYMBOL_CODES:
        return SymbolNotTradable(text, **kw)
    if code in REJECT_CODES or (code == 400 and "invalid" in msg) or "scale" in msg:
        return OrderRejected(text, **kw)
    return FatalExchangeError(text, **kw)


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
EXCERPT_CHARS = 80


def body_excerpt(body: bytes) -> str:
    """A short one-line account of a body that is not MEXC's JSON: an HTML page's title (a
    proxy's "502 Bad Gateway"), else its first 80 characters, whitespace collapsed."""
    title = _TITLE.search(body[:4096])
    raw = title.group(1) if title else body[:EXCERPT_CHARS * 4]
    text = " ".join(raw.decode(errors="replace").split())
    return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


def _retry_after(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    weight: int
    signed: bool = False
    effect: bool = False  # placing/cancelling: never retried, OutcomeUnknown when unsure
    bucket: str | None = None


TIME = Endpoint("GET", "/api/v3/time", 1)
EXCHANGE_INFO = Endpoint("GET", "/api/v3/exchangeInfo", 10)
DEFAULT_SYMBOLS = Endpoint("GET", "/api/v3/defaultSymbols", 1)
KLINES = Endpoint("GET", "/api/v3/klines", 1)
TICKER_PRICE = Endpoint("GET", "/api/v3/ticker/price", 1)
BOOK_TICKER = Endpoint("GET", "/api/v3/ticker/bookTicker", 1)
ACCOUNT = Endpoint("GET", "/api/v3/account", 10, signed=True, bucket="account")
NEW_ORDER = Endpoint("POST", "/api/v3/order", 1, signed=True, effect=True, bucket="order")
GET_ORDER = Endpoint("GET", "/api/v3/order", 2, signed=True)
CANCEL_ORDER = Endpoint("DELETE", "/api/v3/order", 1, signed=True, effect=True, bucket="order")
OPEN_ORDERS = Endpoint("GET", "/api/v3/openOrders", 3, signed=True)
ALL_ORDERS = Endpoint("GET", "/api/v3/allOrders", 10, signed=True)
MY_TRADES = Endpoint("GET", "/api/v3/myTrades", 10, signed=True)
LISTEN_KEY_NEW = Endpoint("POST", "/api/v3/userDataStream", 1, signed=True)
LISTEN_KEY_KEEP = Endpoint("PUT", "/api/v3/userDataStream", 1, signed=True)
LISTEN_KEY_DEL = Endpoint("DELETE", "/api/v3/userDataStream", 1, signed=True)

Params = list[tuple[str, str]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class MexcRest:
    def __init__(self, settings: ExchangeSettings, creds: Credentials | None, *,
                 session: aiohttp.ClientSession | None = None,
                 wall_ms: Callable[[], int] = _wall_ms,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 max_retries: int = 3, backoff_first_s: float = 0.25,
                 backoff_max_s: float = 4.0,
                 limiter: RateLimiter | None = None) -> None:
        self._settings = settings
        self._base = settings.rest_url
        self._creds = creds
        self._session = session
        self._own_session = session is None
        self._wall_ms = wall_ms
        self._sleep = sleep
        self._max_retries = max_retries
        self._backoff_first_s = backoff_first_s
        self._backoff_max_s = backoff_max_s
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout_ms / 1000)
        self.limiter = limiter or RateLimiter(settings.rate_limit_weight_per_10s, sleep=sleep)
        self.time_offset_ms = 0
        self.requests_sent = 0
        self.retries = 0
        self.errors: Counter[tuple[str, str]] = Counter()  # failures by error_label (metrics)

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(json_serialize=lambda o: orjson.dumps(o).decode())
            self._own_session = True
        await self.sync_time()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> MexcRest:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- time ------------------------------------------------------------------------------
    async def server_time_ms(self) -> int:
        with _reading(TIME):
            return parsing.parse_server_time(await self._request(TIME, []))

    async def sync_time(self) -> int:
        """Measure the server clock offset (half the round trip assumed each way)."""
        t0 = self._wall_ms()
        server = await self.server_time_ms()
        t1 = self._wall_ms()
        self.time_offset_ms = server - (t0 + t1) // 2
        logger.debug("MEXC server time offset {} ms (rtt {} ms)", self.time_offset_ms, t1 - t0)
        return self.time_offset_ms

    def timestamp_ms(self) -> int:
        return self._wall_ms() + self.time_offset_ms

    # --- market data -----------------------------------------------------------------------
    async def exchange_rules(self, symbol: str) -> ExchangeRules:
        """Rules of ``symbol``; SymbolNotTradable naming the reason when it is missing, not
        online, not spot-tradable or not enabled for API trading (defaultSymbols)."""
        try:
            info = await self._request(EXCHANGE_INFO, [("symbol", symbol)])
        except SymbolNotTradable as exc:
            raise SymbolNotTradable(f"{symbol}: exchangeInfo refused it: {exc}",
                                    code=exc.code, http_status=exc.http_status) from None
        with _reading(EXCHANGE_INFO):
            rules = parsing.parse_exchange_rules(info, symbol)
        api_symbols = await self._api_symbols()
        if api_symbols is not None and symbol not in api_symbols:
            raise SymbolNotTradable(f"{symbol}: not in /api/v3/defaultSymbols "
                                    "(not enabled for API trading)")
        return rules

    async def _api_symbols(self) -> set[str] | None:
        try:
            payload = await self._request(DEFAULT_SYMBOLS, [])
        except FatalExchangeError as exc:
            if exc.http_status == 404:
                logger.warning("defaultSymbols not available ({}); API-tradability unchecked", exc)
                return None
            raise
        with _reading(DEFAULT_SYMBOLS):
            data = parsing.obj(payload, "defaultSymbols").get("data")
            if not isinstance(data, list):
                raise ProtocolError("defaultSymbols.data: expected an array of symbols")
        return {str(s) for s in data}

    async def klines(self, symbol: str, interval: str, *, start_ms: int | None = None,
                     end_ms: int | None = None, limit: int = MAX_ROWS) -> list[Candle]:
        """One GET /api/v3/klines. The real exchange answers at most 500 rows, ignores
        ``startTime`` without ``endTime`` (it returns the newest candles) and treats ``endTime``
        as exclusive: so at most 500 are asked for, and a start needs an end. Ranges go through
        :meth:`klines_range`. -1121 "Invalid interval." is a ConfigError naming the key."""
        if not 1 <= limit <= MAX_ROWS:
            raise ValueError(f"limit must be within 1..{MAX_ROWS} (MEXC answers at most "
                             f"{MAX_ROWS} rows), got {limit}")
        if start_ms is not None and end_ms is None:
            raise ValueError("klines: startTime without endTime returns the NEWEST candles on "
                             "MEXC; give end_ms (exclusive) or use klines_range")
        params: Params = [("symbol", symbol), ("interval", intervals.rest_interval(interval))]
        if start_ms is not None:
            params.append(("startTime", str(start_ms)))
        if end_ms is not None:
            params.append(("endTime", str(end_ms)))
        params.append(("limit", str(limit)))
        try:
            payload = await self._request(KLINES, params)
        except ExchangeError as exc:
            if exc.code == -1121 and "interval" in str(exc).lower():
                raise ConfigError(f"exchange.kline_interval: MEXC refuses the interval "
                                  f"{interval!r} for {symbol} ({exc})") from None
            raise
        with _reading(KLINES):
            return parsing.parse_klines(payload)

    async def klines_range(self, symbol: str, interval: str, start_ms: int,
                           end_ms: int | None) -> KlineRange:
        """Closed (and, with ``end_ms`` None, the forming) candles from ``start_ms`` on, read
        in checked windows of at most 500 (see ``kline_pages``); what stays missing is in
        ``gaps``."""
        step = intervals.interval_ms(interval)

        async def call(start: int, stop: int) -> list[Candle]:
            return await self.klines(symbol, interval, start_ms=start, end_ms=stop)

        return await read_range(call, start_ms, end_ms, step)

    async def ticker_price(self, symbol: str) -> Decimal:
        payload = await self._request(TICKER_PRICE, [("symbol", symbol)])
        with _reading(TICKER_PRICE):
            return parsing.parse_ticker_price(payload)

    async def book_top(self, symbol: str) -> BookTop:
        with _reading(BOOK_TICKER):
            return parsing.parse_book_top(await self._request(BOOK_TICKER, [("symbol", symbol)]))

    # --- account and orders ----------------------------------------------------------------
    async def account(self) -> dict[str, Balance]:
        with _reading(ACCOUNT):
            return parsing.parse_account(await self._request(ACCOUNT, []))

    async def place_order(self, symbol: str, side: Side, order_type: str, *,
                          client_order_id: str, quantity: Decimal | None = None,
                          quote_order_qty: Decimal | None = None,
                          price: Decimal | None = None) -> OrderReport:
        """POST /api/v3/order, never retried. OutcomeUnknown when the answer was lost: query
        the order by ``client_order_id`` to learn what happened."""
        if not _CLIENT_ID.fullmatch(client_order_id):
            raise ValueError(f"place_order: client_order_id {client_order_id!r} must be 1-32 "
                             "characters of A-Z a-z 0-9 _ -")
        if quantity is None and quote_order_qty is None:
            raise ValueError("place_order: quantity or quote_order_qty is required")
        for name, value in (("quantity", quantity), ("quote_order_qty", quote_order_qty),
                            ("price", price)):
            if value is not None and value <= 0:
                raise ValueError(f"place_order: {name} must be positive, got {value}")
        if order_type != "MARKET" and price is None:
            raise ValueError(f"place_order: a {order_type} order needs a price")
        params: Params = [("symbol", symbol), ("side", side.value), ("type", order_type)]
        if quantity is not None:
            params.append(("quantity", fmt(quantity)))
        if quote_order_qty is not None:
            params.append(("quoteOrderQty", fmt(quote_order_qty)))
        if price is not None:
            params.append(("price", fmt(price)))
        params.append(("newClientOrderId", client_order_id))
        payload = await self._request(NEW_ORDER, params)
        with _reading(NEW_ORDER):
            return parsing.parse_new_order(payload, client_order_id=client_order_id,
                                           symbol=symbol, side_sent=side)

    @staticmethod
    def _order_ref(symbol: str, order_id: str | None, client_order_id: str | None) -> Params:
        if order_id is None and client_order_id is None:
            raise ValueError("order_id or client_order_id is required")
        params: Params = [("symbol", symbol)]
        if order_id is not None:
            params.append(("orderId", order_id))
        if client_order_id is not None:
            params.append(("origClientOrderId", client_order_id))
        return params

    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderReport:
        params = self._order_ref(symbol, order_id, client_order_id)
        payload = await self._request(GET_ORDER, params)
        with _reading(GET_ORDER):
            return parsing.parse_order(payload, symbol=symbol)

    async def cancel_order(self, symbol: str, *, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderReport | None:
        """DELETE /api/v3/order, never retried; UnknownOrder (-2011) when the exchange does not
        know the order or it is already closed, OutcomeUnknown when the answer was lost. None
        when the reply does not say the order's state (a minimal reply): ask with
        :meth:`get_order`."""
        params = self._order_ref(symbol, order_id, client_order_id)
        payload = await self._request(CANCEL_ORDER, params)
        with _reading(CANCEL_ORDER):
            return parsing.parse_cancel_reply(payload, symbol=symbol)

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        payload = await self._request(OPEN_ORDERS, [("symbol", symbol)])
        with _reading(OPEN_ORDERS):
            return [parsing.parse_order(o, symbol=symbol) for o in _array(payload, "openOrders")]

    async def all_orders(self, symbol: str, *, start_ms: int | None = None,
                         end_ms: int | None = None, limit: int = 500) -> list[OrderReport]:
        params: Params = [("symbol", symbol)]
        if start_ms is not None:
            params.append(("startTime", str(start_ms)))
        if end_ms is not None:
            params.append(("endTime", str(end_ms)))
        params.append(("limit", str(min(max(limit, 1), 1000))))
        payload = await self._request(ALL_ORDERS, params)
        with _reading(ALL_ORDERS):
            return [parsing.parse_order(o, symbol=symbol) for o in _array(payload, "allOrders")]

    async def my_trades(self, symbol: str, *, order_id: str | None = None,
                        start_ms: int | None = None, end_ms: int | None = None,
                        limit: int = 100) -> list[Fill]:
        params: Params = [("symbol", symbol)]
        if order_id is not None:
            params.append(("orderId", order_id))
        if start_ms is not None:
            params.append(("startTime", str(start_ms)))
        if end_ms is not None:
            params.append(("endTime", str(end_ms)))
        params.append(("limit", str(min(max(limit, 1), 100))))
        payload = await self._request(MY_TRADES, params)
        with _reading(MY_TRADES):
            return [parsing.parse_trade(t, i) for i, t in enumerate(_array(payload, "myTrades"))]

    # --- user data stream ------------------------------------------------------------------
    async def create_listen_key(self) -> str:
        with _reading(LISTEN_KEY_NEW):
            return parsing.parse_listen_key(await self._request(LISTEN_KEY_NEW, []))

    async def keepalive_listen_key(self, key: str) -> None:
        await self._request(LISTEN_KEY_KEEP, [("listenKey", key)])

    async def delete_listen_key(self, key: str) -> None:
        await self._request(LISTEN_KEY_DEL, [("listenKey", key)])

    # --- transport -------------------------------------------------------------------------
    async def _request(self, ep: Endpoint, params: Params) -> Any:
        attempt = 0
        resynced = False
        while True:
            try:
                return await self._counted(self._send(ep, params))
            except TimestampOutOfWindow:
                # rejected before any effect: safe to resync and resend, also for orders
                if resynced or ep.path == TIME.path:
                    raise
                resynced = True
                logger.warning("MEXC 700003 on {} {}: resyncing server time", ep.method, ep.path)
                await self.sync_time()
                continue
            except RateLimited as exc:
                self.limiter.pause(exc.retry_after_s)
                logger.warning("MEXC rate limit on {}: pausing {:.1f} s", ep.path,
                               exc.retry_after_s)
                if ep.effect or attempt >= self._max_retries:
                    raise
                delay = 0.0  # the limiter holds the request until the pause ends
            except ExchangeUnavailable as exc:
                if ep.effect or attempt >= self._max_retries:
                    raise
                delay = backoff_s(attempt, first_s=self._backoff_first_s,
                                  max_s=self._backoff_max_s, jitter=0.5 + random.random())
                logger.info("MEXC {} {} failed ({}); retry {} in {:.2f} s", ep.method, ep.path,
                            exc, attempt + 1, delay)
            attempt += 1
            self.retries += 1
            if delay:
                await self._sleep(delay)

    async def _counted(self, call: Awaitable[Any]) -> Any:
        """The one place failed requests are counted (``errors``, by ``error_label``)."""
        try:
            return await call
        except ExchangeError as exc:
            self.errors[error_label(exc)] += 1
            raise

    def _build_query(self, ep: Endpoint, params: Params) -> str:
        if not ep.signed:
            return encode_params(params)
        if self._creds is None:
            raise AuthError(f"{ep.method} {ep.path} needs API credentials; none configured")
        # recvWindow then timestamp: the order of the documented vectors (PROTOCOL.md 1.1)
        signed = [*params, ("recvWindow", str(self._settings.recv_window_ms)),
                  ("timestamp", str(self.timestamp_ms()))]
        query = encode_params(signed)
        signature = sign(self._creds.api_secret.get_secret_value(), query)
        return f"{query}&signature={signature}"

    async def _send(self, ep: Endpoint, params: Params) -> Any:
        if self._session is None:
            raise RuntimeError("MexcRest.start() was not called")
        await self.limiter.acquire(ep.weight, ep.bucket)
        query = self._build_query(ep, params)
        url = URL(f"{self._base}{ep.path}{'?' + query if query else ''}", encoded=True)
        headers = {"Content-Type": "application/json"}
        if self._creds is not None:
            headers["X-MEXC-APIKEY"] = self._creds.api_key.get_secret_value()
        what = f"{ep.method} {ep.path}"
        self.requests_sent += 1
        try:
            async with self._session.request(ep.method, url, headers=headers,
                                             timeout=self._timeout) as resp:
                body = await resp.read()
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except aiohttp.ClientConnectorError as exc:  # never reached the server
            raise ExchangeUnavailable(f"{what}: cannot connect: {exc}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
            if ep.effect:
                raise OutcomeUnknown(f"{what}: {reason}; the outcome is unknown") from exc
            raise ExchangeUnavailable(f"{what}: {reason}") from None
        return self._decode(ep, status, body, retry_after)

    def _decode(self, ep: Endpoint, status: int, body: bytes,
                retry_after: float | None) -> Any:
        what = f"{ep.method} {ep.path}"
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            payload = None
            if status == 200:
                with _reading(ep):
                    raise ProtocolError(f"{what}: response is not JSON ({len(body)} bytes): "
                                        f"{body_excerpt(body)!r}", http_status=200) from None
        code, msg = _error_fields(payload)
        if status == 200 and (code is None or code in (0, 200)):
            return payload
        error = classify_error(status, code, " ".join(msg.split()) or body_excerpt(body),
                               retry_after_s=retry_after, what=what)
        if ep.effect and not _clear_refusal(status, code):
            raise OutcomeUnknown(f"{error}; the outcome is unknown", code=code,
                                 http_status=status) from error
        raise error


def error_label(exc: ExchangeError) -> tuple[str, str]:
    """(HTTP status, MEXC code) of a failed request, "none" for what it lacks: ("400",
    "-2013"), ("502", "none") for a proxy's page, ("none", "none") when no answer came
    (refused, reset, timed out)."""
    return (str(exc.http_status) if exc.http_status is not None else "none",
            str(exc.code) if exc.code is not None else "none")


def _clear_refusal(status: int, code: int | None) -> bool:
    """Whether an error answer to an order or cancel clearly says it took no effect: an HTTP
    4xx with a code MEXC documents for a refusal (or 418/429, the rate limiter's). A 200 with
    a code, a 5xx, an unknown code leave the outcome unknown (resolved by client order id):
    the request may have taken effect."""
    if status in (418, 429):
        return True
    return 400 <= status < 500 and code in REFUSAL_CODES


@contextlib.contextmanager
def _reading(ep: Endpoint) -> Iterator[None]:
    """Around reading the reply to ``ep``: a ProtocolError names the request ("GET
    /api/v3/account: ..."); when ``ep`` has an effect (placing, cancelling), an unreadable
    reply is OutcomeUnknown (the ProtocolError its cause), never ProtocolError."""
    what = f"{ep.method} {ep.path}"
    try:
        yield
    except ProtocolError as exc:
        if ep.effect:
            raise OutcomeUnknown(f"{what}: the reply cannot be read ({exc}); the outcome is "
                                 "unknown", http_status=200) from exc
        if str(exc).startswith(what):
            raise
        raise ProtocolError(f"{what}: {exc}", code=exc.code,
                            http_status=exc.http_status) from exc


def _error_fields(payload: object) -> tuple[int | None, str]:
    if not isinstance(payload, dict) or "code" not in payload:
        return None, ""
    raw = payload.get("code")
    try:
        code = int(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        code = None
    msg = payload.get("msg")
    return code, msg if isinstance(msg, str) else ""


def _array(payload: object, what: str) -> list[Any]:
    if not isinstance(payload, list):
        raise ProtocolError(f"{what}: expected a JSON array, got {type(payload).__name__}")
    return payload
