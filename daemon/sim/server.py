"""The Simulator: one aiohttp server with MEXC's REST API under /api/v3 and the websocket at /ws,
a market (replay or random walk), a matching engine, faults and test hooks.

Clock rule (see daemon.sim.clock): simulated time runs at ``speed`` simulated seconds per real
second and is the one clock of everything the simulator reports: klines, pushes, order and
trade times, and (with ``Realism.one_clock``, the default) /api/v3/time and
exchangeInfo.serverTime. A signed request's timestamp passes MEXC's recvWindow rule against
the real clock or against the real clock plus an offset /api/v3/time handed out
(``SigningWindow``). Durations that are the exchange's machinery stay on the real clock:
rate limits, listenKey expiry, websocket timeouts, the not-found-after-create lag.

Usage::

    async with Simulator(SimConfig(seed=1), host="127.0.0.1", port=0) as sim:
        sim.rest_url, sim.ws_url, sim.api_key, sim.api_secret, sim.now_ms()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import random
import secrets
import time
from collections import Counter
from decimal import Decimal
from types import TracebackType
from typing import Any

from aiohttp import web
from loguru import logger

from daemon.sim.clock import SigningWindow, SimClock, real_ms
from daemon.sim.config import FaultDice, Faults, Hooks, OrderAttempt, Realism, SimConfig
from daemon.sim.engine import DealEvent, Engine, Level, SymbolSpec
from daemon.sim.limits import RateLimiter
from daemon.sim.market import MarketModel, synth_book


def _specs(cfg: SimConfig) -> dict[str, SymbolSpec]:
    return {x.symbol: SymbolSpec(
        x.symbol, x.base_asset, x.quote_asset, x.base_precision, x.quote_precision,
        Decimal(x.min_qty), Decimal(x.min_notional), Decimal(x.maker_fee or "0"),
        Decimal(x.taker_fee or "0"), x.status, x.spot_trading_allowed) for x in cfg.symbols()}


def _markets(cfg: SimConfig, real_now_ms: int) -> dict[str, MarketModel]:
    """Every symbol's market. The main one sets the simulation's start; a random walk of
    another symbol starts there too, a replay of another symbol must cover it."""
    main = MarketModel.build(cfg.market, seed=cfg.seed, price_decimals=cfg.quote_precision,
                             real_now_ms=real_now_ms)
    markets = {cfg.symbol: main}
    for i, x in enumerate(cfg.extra_symbols):
        model = MarketModel.build(x.market_spec(), seed=cfg.seed * 1000 + i + 1,
                                  price_decimals=x.quote_precision, real_now_ms=main.start_ms)
        first, end = model.bars[0].open_ms, model.end_ms
        if first > main.start_ms or (end is not None and end <= main.start_ms):
            raise ValueError(f"symbol {x.symbol!r}: its candles ({first} to {end}) do not "
                             f"cover the simulation's start {main.start_ms} (the time of "
                             f"{cfg.symbol}'s first simulated candle)")
        markets[x.symbol] = model
    return markets


class Simulator:
    """In-process MEXC Spot v3 simulator; an async context manager on host:port (0 = free)."""

    def __init__(self, cfg: SimConfig | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        from daemon.sim.ws import WsHub  # local: ws imports this module for typing

        self.cfg = cfg or SimConfig()
        self.cfg.validate()
        self.host, self.port = host, port
        self.faults: Faults = dataclasses.replace(self.cfg.faults)  # mutable, per simulator
        self.hooks = Hooks()
        self.order_requests: list[OrderAttempt] = []
        self.order_queries: dict[str, int] = {}  # GET /order per order id (unknown_order_queries)
        self.dice = FaultDice(self.cfg.seed)
        self.bad_reply_seen: Counter[str] = Counter()  # answers per endpoint (bad_replies)
        self.requests_seen: Counter[str] = Counter()  # every request, "GET /api/v3/time"
        self.specs = _specs(self.cfg)
        real_now = int(time.time() * 1000)
        self.markets = _markets(self.cfg, real_now)
        self.clock = SimClock(self.markets[self.cfg.symbol].start_ms, self.cfg.speed)
        ratio = self.cfg.partial_fill_ratio
        self.engine = Engine(self.specs, {a: Decimal(q) for a, q in self.cfg.balances.items()},
                             self.book, Decimal(ratio) if ratio is not None else None,
                             id_base=500_000_000_000_000_000_000 + real_now % 10**12 * 1000,
                             distinct_trade_ids=self.cfg.realism.trade_ids == "distinct",
                             seed=self.cfg.seed)
        self.signing = SigningWindow()
        # order id -> time.monotonic() until which GET /order by client id answers -2013
        self.hidden_until: dict[str, float] = {}
        self.last_hidden_s = 0.0  # the last while drawn (seconds)
        self._lag_rng = random.Random(f"not-found-{self.cfg.seed}")
        self._cancel_id_rng = random.Random(f"cancel-id-{self.cfg.seed}")
        self._blank_rng = random.Random(f"blank-id-{self.cfg.seed}")
        self.limiter = RateLimiter(self.cfg.weight_per_10s, self.cfg.orders_per_s)
        self.listen_keys: dict[str, float] = {}  # key -> real expiry (time.time())
        self.hub = WsHub(self)
        self._book_cache: dict[str, tuple[int, tuple[list[Level], list[Level]]]] = {}
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._last_step_ms = self.clock.now_ms()
        self.stats: dict[str, int] = {"requests": 0, "pushes": 0, "steps": 0}

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        from daemon.sim.rest import setup_routes

        app = web.Application()
        setup_routes(app, self)
        self.hub.setup_routes(app)
        # stop promptly even while a held or hanging reply is in flight
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_loop(), name="sim-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- public API -----------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def api_key(self) -> str:
        return self.cfg.api_key

    @property
    def api_secret(self) -> str:
        return self.cfg.api_secret

    @property
    def realism(self) -> Realism:
        return self.cfg.realism

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def server_time_ms(self) -> int:
        """The time /api/v3/time and exchangeInfo report (simulated with one_clock); the
        offset it implies is remembered for the signing window."""
        real = real_ms()
        server = self.now_ms() if self.cfg.realism.one_clock else real
        self.signing.handed_out(server, real)
        return server

    def hide_after_create(self, order_id: str) -> None:
        """Start the order's not-found-after-create while (Realism.not_found_after_create_s)."""
        lag = self.cfg.realism.not_found_after_create_s
        if len(self.hidden_until) > 1000:  # forget the whiles that are over
            now = time.monotonic()
            self.hidden_until = {k: v for k, v in self.hidden_until.items() if v > now}
        if lag > 0:
            self.last_hidden_s = lag * (0.5 + 0.5 * self._lag_rng.random())
            self.hidden_until[order_id] = time.monotonic() + self.last_hidden_s

    def hidden(self, order_id: str) -> bool:
        until = self.hidden_until.get(order_id)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self.hidden_until[order_id]
            return False
        return True

    def new_cancel_client_id(self) -> str:
        """The id MEXC gives a cancel request sent without newClientOrderId (seeded)."""
        return f"{self._cancel_id_rng.getrandbits(128):032x}"

    def draw_blank_client_id(self) -> str | None:
        """What an order placed without a client id reports as one: "" or null (seeded)."""
        return "" if self._blank_rng.random() < 0.5 else None

    def trade_ids(self, symbol: str) -> list[tuple[str, str]]:
        """(REST myTrades id, deals push tradeId) of every fill of ``symbol``, in order."""
        return [(t.rest_id or t.trade_id, t.trade_id) for t in self.engine.trades
                if t.symbol == symbol]

    def pause(self) -> None:
        self.clock.pause()

    def resume(self) -> None:
        self.clock.resume()

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward by ``seconds`` (tests); the next step sees the range."""
        self.clock.advance(int(seconds * 1000))

    def drop_websockets(self) -> None:
        self.hub.drop_all()

    def stall_websockets(self, seconds: float) -> None:
        self.hub.stall(seconds)

    def orders(self) -> list[dict[str, Any]]:
        return [o.to_mexc() for o in self.engine.orders.values()]

    def my_trades(self, symbol: str) -> list[dict[str, Any]]:
        return [t.to_mexc() for t in self.engine.trades if t.symbol == symbol]

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return self.engine.balances()

    def price(self, symbol: str | None = None) -> Decimal:
        """Current market (path) price of ``symbol`` (default: the main symbol)."""
        return self.markets[symbol or self.cfg.symbol].price_at(self.now_ms())

    # -- market plumbing ------------------------------------------------------------------
    def book(self, symbol: str) -> tuple[list[Level], list[Level]]:
        now = self.now_ms()
        cached = self._book_cache.get(symbol)
        if cached is not None and cached[0] == now:
            return cached[1]
        spec = self.specs[symbol]
        book = synth_book(self.markets[symbol].price_at(now), levels=self.cfg.book_levels,
                          level_quote=self.cfg.decimal("book_level_quote"),
                          step_frac=self.cfg.decimal("book_step_frac"),
                          price_decimals=spec.quote_precision, qty_decimals=spec.base_precision)
        self._book_cache[symbol] = (now, book)
        return book

    def new_listen_key(self) -> str:
        key = secrets.token_hex(32)
        self.listen_keys[key] = time.time() + self.cfg.listen_key_ttl_s
        return key

    def listen_key_valid(self, key: str) -> bool:
        expiry = self.listen_keys.get(key)
        return expiry is not None and expiry > time.time()

    def step(self) -> None:
        """One matching step: resting orders against the market since the previous step."""
        now = self.clock.now_ms()
        if now <= self._last_step_ms:
            return
        elapsed = Decimal(now - self._last_step_ms) / 1000
        self.engine.new_step()
        start = self._last_step_ms
        for symbol, market in self.markets.items():
            if self.engine.open_orders(symbol):
                low, high = market.range_between(start, now)
                self.engine.step(symbol, now, low, high, elapsed, start_ms=start,
                                 range_since=functools.partial(market.range_between,
                                                               b_ms=now))
        self._last_step_ms = now
        self.stats["steps"] += 1

    async def flush_events(self) -> None:
        """Turn engine events into private pushes; await the on_fill hook for each fill."""
        events = self.engine.drain_events()
        if not events:
            return
        self.hub.publish_private(events)
        if self.hooks.on_fill is not None:
            for ev in events:
                if isinstance(ev, DealEvent):
                    await self.hooks.on_fill(ev.trade.to_mexc())

    async def _tick_loop(self) -> None:
        cfg = self.cfg
        kline_every = max(1.0 / cfg.max_push_hz, cfg.kline_push_interval_s / cfg.speed)
        period = kline_every if cfg.tick_hz is None else min(
            kline_every, max(1.0 / cfg.max_push_hz, 1.0 / cfg.tick_hz))
        next_kline = 0.0
        while True:
            await asyncio.sleep(period)
            try:
                self.step()
                await self.flush_events()
                if time.monotonic() >= next_kline:  # every tick unless tick_hz is set
                    next_kline = time.monotonic() + kline_every - period / 2
                    self.hub.kline_tick(self.clock.now_ms())
                self.hub.book_tick(self.clock.now_ms())
                self._ws_faults(period)
            except Exception:  # a failing test hook must not stop the market
                logger.exception("simulator tick failed")

    def _ws_faults(self, period_s: float) -> None:
        if self.dice.roll("ws_drop", min(1.0, self.faults.ws_drop_rate_per_s * period_s)):
            self.hub.drop_all()
        if self.dice.roll("ws_stall", min(1.0, self.faults.ws_stall_rate_per_s * period_s)):
            self.hub.stall(self.faults.ws_stall_s)
