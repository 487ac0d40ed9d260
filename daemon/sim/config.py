"""Simulator configuration: SimConfig (frozen), Realism (how unkind the simulated exchange is,
frozen), Faults (mutable at runtime), Hooks (test callbacks), extra symbols. Demo credentials
are documented defaults, not secrets."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from daemon.domain.fields import ARGUMENTS
from daemon.sim.market import MarketSpec, RandomWalkMarket

DEMO_API_KEY = "mx0vglDEMOKEY0000000"
DEMO_API_SECRET = "demo-secret-not-real-0000000000000"


BAD_REPLY_KINDS = ("truncated", "html502", "code", "code_after", "executed_null",
                   "executed_negative", "price_x100", "price_quote_x100", "balances_null",
                   "balances_huge", "balances_negative", "balances_x1000")


@dataclass(frozen=True)
class BadReply:
    """The first ``first`` answers (0: every answer) of ``endpoint`` ("GET /api/v3/account")
    are bad: ``truncated`` (200, the real reply cut in half, after the request took effect),
    ``html502`` (a proxy's 502 HTML page, before it is processed), ``code`` (200
    {"code": code, "msg": msg}, before it is processed), ``code_after`` (the same, after it
    took effect), or the real reply with one field lying: ``executed_null`` /
    ``executed_negative`` (each order object's executedQty null / "-1"), ``price_x100``
    (each row's price times 100), ``price_quote_x100`` (each row's price and quoteQty times
    100: a row consistent in itself), ``balances_null`` / ``balances_huge`` /
    ``balances_negative`` / ``balances_x1000`` (every account balance's free amount null /
    "1e300" / "-5" / times 1000)."""

    endpoint: str
    kind: str = "truncated"
    first: int = 1
    code: int = 700007
    msg: str = "No permission to access the endpoint."

    def validate(self) -> None:
        method, _, path = self.endpoint.partition(" ")
        if method not in ("GET", "POST", "PUT", "DELETE") or not path.startswith("/api/"):
            raise ValueError(f"faults.bad_replies: endpoint {self.endpoint!r} must look like "
                             "'GET /api/v3/account'")
        if self.kind not in BAD_REPLY_KINDS:
            raise ValueError(f"faults.bad_replies: kind {self.kind!r} is not one of "
                             f"{', '.join(BAD_REPLY_KINDS)}")
        if self.first < 0:
            raise ValueError(f"faults.bad_replies: first must be >= 0, got {self.first}")


@dataclass
class Faults:
    """Fault rates (0..1) and delays; mutable while the simulator runs. Draws come from one
    RNG seeded by SimConfig.seed, so a run is reproducible for a given request sequence.

    - http_5xx_rate: any REST request answers 503 BEFORE it is processed (no effect).
    - lost_reply_rate: an order or cancel IS processed, then the connection is dropped
      without a reply (the client times out or sees a reset).
    - garbled_reply_rate: an order or cancel IS processed, then answered 200 with a body that
      is not JSON (a proxy's error page, a truncated reply).
    - unknown_order_queries: GET /api/v3/order answers -2013 "Order does not exist." to the
      first N queries of each order (MEXC does so for a moment after a create).
    - rate_limit_rate: any REST request answers 429 with Retry-After (no effect).
    - lost_reply_hang_s: with a lost reply, hold the connection this long (real seconds)
      before dropping it, so that a client with a shorter timeout times out instead.
    - push_delay_ms: every websocket push is delayed by this many real milliseconds.
    - push_duplicate_rate: a websocket push is sent twice.
    - ws_drop_rate_per_s: chance per real second that every websocket is dropped (abnormal
      close, as drop_websockets()).
    - ws_stall_rate_per_s / ws_stall_s: chance per real second that every websocket goes
      silent for ws_stall_s seconds (as stall_websockets()).
    - bad_replies: scripted bad answers of one endpoint (``BadReply``): its first N answers
      are truncated JSON, a proxy's 502 HTML page or a 200 {"code","msg"}.
    - book_ticker_factor: GET /ticker/bookTicker answers its bid and ask multiplied by this
      (rounded to the price precision, bid down and ask up; 0 or negative gives such
      prices). Only that reply lies: orders still match against the simulator's own book.
    - book_ticker_crossed: GET /ticker/bookTicker answers with bid and ask swapped (bid above
      ask).
    - ws_refused_subscriptions / ws_refusal: the next N websocket subscriptions are refused
      with this reason (MEXC's "Not Subscribed successfully! [..]. Reason： Blocked!").
    - ws_private_handshake_status: when not 0, a private websocket handshake (with a
      listenKey) is answered with this HTTP status instead of an upgrade.
    - ws_mute_pushes: no push is sent on any websocket; PING and subscriptions are still
      answered (a subscription gone silent on a live connection).
    - ws_mute_book_ticker: the bookTicker channels push nothing (a client's book top goes
      stale while klines still arrive)."""

    http_5xx_rate: float = 0.0
    lost_reply_rate: float = 0.0
    garbled_reply_rate: float = 0.0
    unknown_order_queries: int = 0
    rate_limit_rate: float = 0.0
    push_delay_ms: int = 0
    push_duplicate_rate: float = 0.0
    retry_after_s: int = 1
    lost_reply_hang_s: float = 0.0
    ws_drop_rate_per_s: float = 0.0
    ws_stall_rate_per_s: float = 0.0
    ws_stall_s: float = 2.0
    bad_replies: tuple[BadReply, ...] = ()
    book_ticker_factor: float = 1.0
    book_ticker_crossed: bool = False
    ws_refused_subscriptions: int = 0
    ws_refusal: str = "Blocked!"
    ws_private_handshake_status: int = 0
    ws_mute_pushes: bool = False
    ws_mute_book_ticker: bool = False

    def validate(self) -> None:
        for bad in self.bad_replies:
            bad.validate()
        for name in ("http_5xx_rate", "lost_reply_rate", "garbled_reply_rate",
                     "rate_limit_rate", "push_duplicate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"faults.{name} must be within 0..1, got {value}")
        for name in ("unknown_order_queries", "push_delay_ms", "retry_after_s",
                     "lost_reply_hang_s", "ws_drop_rate_per_s", "ws_stall_rate_per_s",
                     "ws_stall_s", "ws_refused_subscriptions",
                     "ws_private_handshake_status"):
            if getattr(self, name) < 0:
                raise ValueError(f"faults.{name} must be >= 0, got {getattr(self, name)}")
        if not math.isfinite(self.book_ticker_factor):
            raise ValueError("faults.book_ticker_factor must be a finite number, got "
                             f"{self.book_ticker_factor}")


@dataclass(frozen=True)
class Realism:
    """How closely the simulator copies the real MEXC where it differs from the docs
    (PROTOCOL.md section 9). The defaults are the real exchange's behaviour; ``Realism.kind()``
    (``rebalancer sim --kind-exchange``) turns every point off, for a focused test.

    - kline_max_rows: GET /klines returns at most this many rows whatever ``limit`` says
      (real: 500; kind: 1000, the documented maximum).
    - kline_start_needs_end: ``startTime`` without ``endTime`` is ignored and the NEWEST rows
      come back (real, captured); kind: rows from ``startTime`` on.
    - kline_end_exclusive: ``endTime`` is exclusive (real: a candle opening at endTime is not
      returned); kind: inclusive.
    - cancel_client_id: ``own``: a DELETE /order reply's ``clientOrderId`` is the id of the
      CANCEL request (its ``newClientOrderId``, else one the simulator makes up) and
      ``origClientOrderId`` the order's; ``echo``: both are the order's client id.
    - minimal_replies: the share (seeded) of DELETE /order replies that carry only symbol,
      orderId, price, origQty, type, side, and of POST /order replies that carry only
      symbol, orderId, orderListId.
    - trade_ids: ``distinct``: a fill's REST myTrades ``id`` is 32 lowercase hex characters and
      its deals-push ``tradeId`` the ``<digits>X<n>`` form; ``same``: both are the X form.
    - not_found_after_create_s: GET /order by ``origClientOrderId`` (without ``orderId``)
      answers -2013 "Order does not exist." for a while after a successful create: each
      order's while is drawn (seeded) from [S/2, S] REAL seconds. Real seconds on purpose:
      the lag is the exchange's machinery, not the market, and at 60x three simulated seconds
      would be 50 ms and never seen. 0 turns it off.
    - wire_types: ids and times as MEXC sends them in 2024-25 captures (orderListId "-1";
      transactTime, time, updateTime, 24 h openTime/closeTime, depth lastUpdateId/timestamp
      as strings of digits; updateTime null while open; timeInForce, stopPrice, icebergQty
      null; origQuoteOrderQty = price x quantity; a MARKET order by quantity reports a
      reference price; isWorking true on FILLED; cancelReason present; clientOrderId "" or
      null (seeded per order) when none was given). Off: the documented types.
    - missing_signature_700004: a signed request without ``signature`` answers 700004
      "Mandatory parameter 'signature' ..." (off: 700002).
    - one_clock: /api/v3/time and exchangeInfo.serverTime report SIMULATED time, the clock of
      every other time the simulator reports (off: the real clock, the old mixed rule). The
      timestamp check is the same either way (daemon.sim.clock: MEXC's rule against the real
      clock and against every clock /api/v3/time handed out).
    - history_retention: what MEXC keeps (PROTOCOL.md 2.2): GET /allOrders answers only
      orders created in the last 7 days, and REFUSES (400, the unkinder reading of "max last
      7 days") a window ``endTime - startTime`` (``endTime`` defaulting to now) over 7 days;
      GET /myTrades answers only trades of the last 30 days ("only last 1 month", read as its
      shorter month). Off: the whole history, any window.

    Always, without a knob: a bad kline interval answers HTTP 400 {"code":-1121,"msg":"Invalid
    interval."}; ``limit`` above 1000 is still refused (400) as the docs say (UNSURE)."""

    kline_max_rows: int = 500
    kline_start_needs_end: bool = True
    kline_end_exclusive: bool = True
    cancel_client_id: str = "own"
    minimal_replies: float = 0.2
    trade_ids: str = "distinct"
    not_found_after_create_s: float = 3.0
    wire_types: bool = True
    missing_signature_700004: bool = True
    one_clock: bool = True
    history_retention: bool = True

    @classmethod
    def kind(cls) -> Realism:
        """Every point off: the documented (kind) exchange."""
        return cls(kline_max_rows=1000, kline_start_needs_end=False, kline_end_exclusive=False,
                   cancel_client_id="echo", minimal_replies=0.0, trade_ids="same",
                   not_found_after_create_s=0.0, wire_types=False,
                   missing_signature_700004=False, one_clock=False,
                   history_retention=False)

    def validate(self) -> None:
        if not 1 <= self.kline_max_rows <= 1000:
            raise ValueError(f"kline_max_rows must be within 1..1000, got {self.kline_max_rows}")
        if self.cancel_client_id not in ("own", "echo"):
            raise ValueError("cancel_client_id must be 'own' or 'echo', got "
                             f"{self.cancel_client_id!r}")
        if self.trade_ids not in ("same", "distinct"):
            raise ValueError(f"trade_ids must be 'same' or 'distinct', got {self.trade_ids!r}")
        if not 0.0 <= self.minimal_replies <= 1.0:
            raise ValueError(f"minimal_replies must be within 0..1, got {self.minimal_replies}")
        if not 0.0 <= self.not_found_after_create_s <= 60.0:
            raise ValueError("not_found_after_create_s must be within 0..60, got "
                             f"{self.not_found_after_create_s}")


def kind_exchange() -> Realism:
    """Shorthand for ``Realism.kind()``."""
    return Realism.kind()


HookFn = Callable[[Any], Awaitable[None]]


@dataclass
class Hooks:
    """Async callbacks awaited at fixed points of order handling. A hook may sleep (to hold
    the reply) or raise (the connection is then dropped without a reply)."""

    before_order: HookFn | None = None  # (params: dict[str, str]) request received
    after_order: HookFn | None = None  # (order: dict) processed, reply not yet sent
    before_cancel: HookFn | None = None  # (params: dict[str, str])
    after_cancel: HookFn | None = None  # (order: dict)
    on_fill: HookFn | None = None  # (trade: dict in myTrades shape)


class OrderAttempt(NamedTuple):
    """One POST /api/v3/order seen by the simulator."""

    client_order_id: str | None
    params: dict[str, str]
    outcome: str  # accepted:<orderId> | rejected:<code> | lost_reply:<orderId> |
    #               garbled:<orderId> | 5xx | 429 |
    #               killed:<orderId or ->


SYMBOL_STATUSES = {"1": "online", "2": "paused", "3": "offline"}  # exchangeInfo status


@dataclass(frozen=True)
class ExtraSymbol:
    """A further symbol listed in exchangeInfo, with its own rules and market: a seeded random
    walk from ``start_price`` unless ``market`` is given (a ``ReplayMarket`` must cover the
    simulation's start, which the main symbol's market sets; its ``start_index`` is not used).
    ``maker_fee``/``taker_fee`` None: the main symbol's. ``status`` "2" (paused) or "3"
    (offline) and ``spot_trading_allowed`` False are listed as such in exchangeInfo, and orders
    on the symbol are refused (30000 "suspended transaction for the symbol" / 10007 "symbol not
    support api", PROTOCOL.md 4)."""

    symbol: str
    base_asset: str
    quote_asset: str
    base_precision: int = 2
    quote_precision: int = 4
    min_qty: str = "0.01"
    min_notional: str = "1"
    start_price: str = "1"
    maker_fee: str | None = None
    taker_fee: str | None = None
    market: MarketSpec | None = None
    status: str = "1"
    spot_trading_allowed: bool = True

    def market_spec(self) -> MarketSpec:
        return self.market if self.market is not None else RandomWalkMarket(
            start_price=self.start_price)

    def validate(self) -> None:
        """Raise ValueError naming the symbol and the bad field."""
        where = f"symbol {self.symbol!r}"
        for name in ("symbol", "base_asset", "quote_asset"):
            value = getattr(self, name)
            if not value or not value.isalnum() or not value.isupper():
                raise ValueError(f"{where}: {name} must be UPPERCASE letters and digits, "
                                 f"got {value!r}")
        if self.base_asset == self.quote_asset:
            raise ValueError(f"{where}: base_asset and quote_asset are both "
                             f"{self.base_asset!r}")
        for name in ("base_precision", "quote_precision"):
            if not 0 <= getattr(self, name) <= 18:
                raise ValueError(f"{where}: {name} must be within 0..18, got "
                                 f"{getattr(self, name)}")
        for name in ("min_qty", "min_notional", "maker_fee", "taker_fee"):
            raw = getattr(self, name)
            if raw is not None and ARGUMENTS.decimal(raw, f"{where}: {name}") < 0:
                raise ValueError(f"{where}: {name} must be >= 0, got {raw}")
        if self.market is None and ARGUMENTS.decimal(self.start_price,
                                                     f"{where}: start_price") <= 0:
            raise ValueError(f"{where}: start_price must be > 0, got {self.start_price}")
        if self.status not in SYMBOL_STATUSES:
            raise ValueError(f"{where}: status must be one of "
                             f"{', '.join(f'{k} ({v})' for k, v in SYMBOL_STATUSES.items())}"
                             f", got {self.status!r}")


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    speed: float = 60.0  # simulated seconds per real second
    market: MarketSpec = field(default_factory=RandomWalkMarket)
    balances: dict[str, str] = field(default_factory=lambda: {"QRL": "10000", "USDT": "500"})
    symbol: str = "QRLUSDT"
    base_asset: str = "QRL"
    quote_asset: str = "USDT"
    base_precision: int = 2
    quote_precision: int = 5
    min_qty: str = "0.01"
    min_notional: str = "1"
    maker_fee: str = "0"
    taker_fee: str = "0.0005"
    api_key: str = DEMO_API_KEY
    api_secret: str = DEMO_API_SECRET
    partial_fill_ratio: str | None = None
    kline_push_interval_s: float = 1.0
    max_push_hz: float = 50.0
    # ticks per real second when above the kline push rate (None: one per kline push): the
    # book ticker then pushes up to every 100 ms as MEXC's does, klines stay one per
    # kline_push_interval_s (MEXC's rate at speed 1: bench/bench_pairs.py)
    tick_hz: float | None = None
    faults: Faults = field(default_factory=Faults)
    realism: Realism = field(default_factory=Realism)
    extra_symbols: tuple[ExtraSymbol, ...] = ()
    symbol_status: str = "1"  # the main symbol's exchangeInfo status (see ExtraSymbol)
    spot_trading_allowed: bool = True  # the main symbol's isSpotTradingAllowed
    # synthesized book
    book_levels: int = 20
    book_level_quote: str = "200"  # quote value at the best level (deeper levels hold more)
    book_step_frac: str = "0.0005"  # distance between levels, as a fraction of the price
    # limits (None disables)
    weight_per_10s: int | None = 500  # REST weight budget per API key (or IP) per 10 s
    orders_per_s: int | None = 12  # new order + cancel per second per API key
    ws_max_subscriptions: int = 30
    ws_no_sub_timeout_s: float = 30.0
    ws_idle_timeout_s: float = 60.0
    ws_max_msgs_per_s: int = 100
    listen_key_ttl_s: float = 3600.0

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")
        for name in ("min_qty", "min_notional", "maker_fee", "taker_fee", "book_level_quote",
                     "book_step_frac"):
            if ARGUMENTS.decimal(getattr(self, name), name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.partial_fill_ratio is not None:
            ratio = ARGUMENTS.decimal(self.partial_fill_ratio, "partial_fill_ratio")
            if not 0 < ratio <= 1:
                raise ValueError(f"partial_fill_ratio must be in (0, 1], got {ratio}")
        for asset, qty in self.balances.items():
            if ARGUMENTS.decimal(qty, f"balance {asset}") < 0:
                raise ValueError(f"balance {asset} must be >= 0, got {qty}")
        if not 0 <= self.base_precision <= 18 or not 0 <= self.quote_precision <= 18:
            raise ValueError("base_precision/quote_precision must be within 0..18")
        if self.kline_push_interval_s <= 0 or self.max_push_hz <= 0:
            raise ValueError("kline_push_interval_s and max_push_hz must be > 0")
        if self.tick_hz is not None and not self.tick_hz > 0:
            raise ValueError(f"tick_hz must be > 0, got {self.tick_hz}")
        if not self.api_key or not self.api_secret:
            raise ValueError("api_key and api_secret must not be empty")
        self.main_symbol().validate()
        seen = {self.symbol}
        for extra in self.extra_symbols:
            extra.validate()
            if extra.symbol in seen:
                raise ValueError(f"symbol {extra.symbol!r} is listed twice")
            seen.add(extra.symbol)
        self.faults.validate()
        self.realism.validate()

    def main_symbol(self) -> ExtraSymbol:
        """The main symbol's rules in the shape of the others (its market is ``market``)."""
        return ExtraSymbol(self.symbol, self.base_asset, self.quote_asset, self.base_precision,
                           self.quote_precision, self.min_qty, self.min_notional,
                           maker_fee=self.maker_fee, taker_fee=self.taker_fee,
                           market=self.market, status=self.symbol_status,
                           spot_trading_allowed=self.spot_trading_allowed)

    def symbols(self) -> tuple[ExtraSymbol, ...]:
        """Every symbol served, the main one first, fees filled in from the main one's."""
        return (self.main_symbol(), *(
            dataclasses.replace(x, maker_fee=self.maker_fee if x.maker_fee is None
                                else x.maker_fee,
                                taker_fee=self.taker_fee if x.taker_fee is None
                                else x.taker_fee)
            for x in self.extra_symbols))

    @classmethod
    def for_symbols(cls, symbols: tuple[ExtraSymbol, ...], **fields: Any) -> SimConfig:
        """A config serving ``symbols``: the first is the main symbol (its market sets the
        simulation's start), the others are ``extra_symbols``; ``fields`` are the rest."""
        if not symbols:
            raise ValueError("at least one symbol is needed")
        main = symbols[0]
        fees: dict[str, Any] = {k: v for k, v in (("maker_fee", main.maker_fee),
                                                  ("taker_fee", main.taker_fee))
                                if v is not None}
        return cls(symbol=main.symbol, base_asset=main.base_asset, quote_asset=main.quote_asset,
                   base_precision=main.base_precision, quote_precision=main.quote_precision,
                   min_qty=main.min_qty, min_notional=main.min_notional,
                   market=main.market_spec(), symbol_status=main.status,
                   spot_trading_allowed=main.spot_trading_allowed,
                   extra_symbols=tuple(symbols[1:]), **fees, **fields)

    def decimal(self, name: str) -> Decimal:
        return ARGUMENTS.decimal(getattr(self, name), name)


class FaultDice:
    """The seeded source of fault decisions: one random stream per fault kind, so each kind's
    decisions depend only on the seed and how many times that kind was rolled."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}

    def roll(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        rng = self._rngs.get(kind)
        if rng is None:
            rng = self._rngs[kind] = random.Random(f"faults-{self._seed}-{kind}")
        return rng.random() < rate
