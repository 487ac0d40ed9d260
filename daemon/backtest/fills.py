"""Fill models of the backtest: how a BUY/SELL plan becomes fills.

Both price the order with the daemon's own rule (``daemon.domain.pricing.order_for``: the
executor's order type, slippage cap, re-clamp of a BUY to the spendable quote, minimums and
price checks against the independent prices) and charge fees as the simulator does (the
received asset pays: a BUY's fee in base, a SELL's in quote).

- ``close``: the order fills completely at once at the decision's price (the last close) moved
  by ``execution.slippage_pct`` against us (BUY up, SELL down, on the price grid), taker fee.
- ``sim``: the simulator's own matching (``daemon.sim.engine.Engine``) against the book it
  synthesizes around the intra-candle price path (``daemon.sim.market``) of the candle after
  the decision: the order takes the book's finite levels (slippage, partial fills), a LIMIT
  remainder rests and fills as the path trades through its price (matching steps of one
  second), and what is left after ``execution.order_timeout_s`` of candle time is canceled,
  as the daemon's executor does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from daemon.domain.models import BookTop, Candle, ExchangeRules, Fill, Side
from daemon.domain.money import ZERO, floor_to, fmt, quantum
from daemon.domain.params import RiskParams
from daemon.domain.planner import min_notional_eff
from daemon.domain.pricing import PricedOrder, PriceReference, PriceRefusal, order_for
from daemon.sim.config import SimConfig
from daemon.sim.engine import Engine, Level, SimError, SymbolSpec
from daemon.sim.engine import Order as SimOrder
from daemon.sim.market import Bar, MarketModel, synth_book
from daemon.sim.orders import parse_order

HUNDRED = Decimal(100)
STEP_MS = 1000  # the simulator's matching step at its default speed (one tick per 1/60 s)
FILL_MODELS = ("sim", "close")


@dataclass(frozen=True, slots=True)
class ExecParams:
    """What the executor reads from ``execution:`` in config.yaml."""

    order_type: str
    slippage_pct: Decimal
    order_timeout_s: float


@dataclass(slots=True)
class Wallet:
    """Balances of one run between orders (nothing is locked then)."""

    base: Decimal
    quote: Decimal


@dataclass(frozen=True, slots=True)
class Execution:
    """What one order did: its fills (none: not sent or nothing matched), when it was done
    (the daemon's next evaluation cannot start before), and why it was not sent."""

    fills: tuple[Fill, ...]
    end_ms: int
    refusal: PriceRefusal | None = None
    rejected: str | None = None  # the (simulated) exchange refused it


def apply_fill(wallet: Wallet, fill: Fill) -> None:
    """The simulator's balance arithmetic for one fill (fee in the received asset)."""
    if fill.side is Side.BUY:
        wallet.quote -= fill.quote_qty
        wallet.base += fill.qty - fill.fee
    else:
        wallet.base -= fill.qty
        wallet.quote += fill.quote_qty - fill.fee


def _slipped(side: Side, price: Decimal, slippage_pct: Decimal, decimals: int) -> Decimal:
    s = slippage_pct / HUNDRED
    if side is Side.BUY:
        return (price * (1 + s)).quantize(quantum(decimals), rounding=ROUND_DOWN)
    return (price * (1 - s)).quantize(quantum(decimals), rounding=ROUND_UP)


class CloseFills:
    """``--fill close``."""

    name = "close"

    def __init__(self, rules: ExchangeRules, wallet: Wallet) -> None:
        self.rules = rules
        self.wallet = wallet
        self._seq = 0

    def execute(self, side: Side, qty: Decimal, *, time_ms: int, price: Decimal,
                reference: PriceReference, ex: ExecParams, risk: RiskParams) -> Execution:
        rules = self.rules
        top = BookTop(price, ZERO, price, ZERO)  # the book IS the reference: not checked
        outcome = order_for(
            side, qty, top, reference, rules, order_type=ex.order_type,
            slippage_pct=ex.slippage_pct, spendable_quote=self.wallet.quote - risk.usdt_reserve,
            min_notional=min_notional_eff(rules, risk),
            max_deviation_pct=risk.max_price_deviation_pct, source="candle close",
            check_top=False)
        if not isinstance(outcome, PricedOrder):
            return Execution((), time_ms, outcome)
        fill_price = _slipped(side, price, ex.slippage_pct, rules.quote_precision)
        fill_qty = outcome.qty
        if outcome.quote_order_qty is not None:  # a MARKET buy spends a quote amount
            fill_qty = floor_to(outcome.quote_order_qty / fill_price, rules.base_precision)
        if fill_qty <= 0:
            return Execution((), time_ms)
        quote = fill_qty * fill_price
        self._seq += 1
        if side is Side.BUY:
            fee, fee_asset = fill_qty * rules.taker_fee, rules.base_asset
        else:
            fee, fee_asset = quote * rules.taker_fee, rules.quote_asset
        fill = Fill(f"bt{self._seq}", f"bt{self._seq}", None, side, fill_price, fill_qty, quote,
                    fee, fee_asset, time_ms)
        apply_fill(self.wallet, fill)
        return Execution((fill,), time_ms)


def _order_params(priced: PricedOrder, side: Side, symbol: str, client_id: str
                  ) -> dict[str, str]:
    """The POST /api/v3/order parameters the REST adapter sends for ``priced``."""
    params = {"symbol": symbol, "side": side.value, "type": priced.order_type,
              "newClientOrderId": client_id}
    if priced.quote_order_qty is not None:
        params["quoteOrderQty"] = fmt(priced.quote_order_qty)
    else:
        params["quantity"] = fmt(priced.qty)
    if priced.order_type != "MARKET" and priced.price is not None:
        params["price"] = fmt(priced.price)
    return params


def market_model(candles: tuple[Bar, ...], interval_ms: int, price_decimals: int) -> MarketModel:
    return MarketModel(base_ms=interval_ms, bars=list(candles), start_ms=candles[0].open_ms,
                       price_decimals=price_decimals)


class SimFills:
    """``--fill sim`` (the default): one simulated exchange per run."""

    name = "sim"

    def __init__(self, rules: ExchangeRules, wallet: Wallet, market: MarketModel,
                 sim: SimConfig | None = None) -> None:
        self.rules = rules
        self.wallet = wallet
        self.market = market
        cfg = sim or SimConfig()
        self._level_quote = cfg.decimal("book_level_quote")
        self._step_frac = cfg.decimal("book_step_frac")
        self._levels = cfg.book_levels
        spec = SymbolSpec(rules.symbol, rules.base_asset, rules.quote_asset, rules.base_precision,
                          rules.quote_precision, rules.min_qty, rules.min_notional,
                          rules.maker_fee, rules.taker_fee)
        self.engine = Engine({rules.symbol: spec},
                             {rules.base_asset: wallet.base, rules.quote_asset: wallet.quote},
                             self._book)
        self._now = 0
        self._cached: tuple[int, tuple[list[Level], list[Level]]] | None = None
        self._seq = 0

    def sync_wallet(self) -> None:
        """Take the wallet's balances as the exchange's free ones (a portfolio's legs share
        the quote: another leg's orders changed it since this exchange last traded)."""
        self.engine.free[self.rules.base_asset] = self.wallet.base
        self.engine.free[self.rules.quote_asset] = self.wallet.quote

    def _book(self, symbol: str) -> tuple[list[Level], list[Level]]:
        if self._cached is not None and self._cached[0] == self._now:
            return self._cached[1]
        book = synth_book(self.market.price_at(self._now), levels=self._levels,
                          level_quote=self._level_quote, step_frac=self._step_frac,
                          price_decimals=self.rules.quote_precision,
                          qty_decimals=self.rules.base_precision)
        self._cached = (self._now, book)
        return book

    def execute(self, side: Side, qty: Decimal, *, time_ms: int, price: Decimal,
                reference: PriceReference, ex: ExecParams, risk: RiskParams) -> Execution:
        rules, engine = self.rules, self.engine
        self._now = time_ms
        bids, asks = self._book(rules.symbol)
        if not bids or not asks:
            return Execution((), time_ms)
        top = BookTop(bids[0][0], bids[0][1], asks[0][0], asks[0][1])
        outcome = order_for(
            side, qty, top, reference, rules, order_type=ex.order_type,
            slippage_pct=ex.slippage_pct,
            spendable_quote=engine.free.get(rules.quote_asset, ZERO) - risk.usdt_reserve,
            min_notional=min_notional_eff(rules, risk),
            max_deviation_pct=risk.max_price_deviation_pct, source="simulated book")
        if not isinstance(outcome, PricedOrder):
            return Execution((), time_ms, outcome)
        self._seq += 1
        before = len(engine.trades)
        engine.new_step()
        mid = self.market.price_at(time_ms)
        try:  # validated as the simulator's POST /api/v3/order validates it
            req = parse_order(_order_params(outcome, side, rules.symbol, f"bt{self._seq}"),
                              engine.specs, mid)
            order = engine.place(req, time_ms, ref_price=mid)
        except SimError as exc:
            engine.drain_events()
            return Execution((), time_ms, rejected=str(exc))
        end = self._follow(order, time_ms, int(ex.order_timeout_s * 1000))
        engine.drain_events()
        fills = tuple(Fill(t.rest_id or t.trade_id, t.order_id, t.client_order_id,
                           Side(t.side), t.price, t.qty, t.quote_qty, t.commission,
                           t.commission_asset, t.time_ms, t.is_maker)
                      for t in engine.trades[before:])
        self.wallet.base = engine.free.get(rules.base_asset, ZERO)
        self.wallet.quote = engine.free.get(rules.quote_asset, ZERO)
        return Execution(fills, end)

    def _follow(self, order: SimOrder, start_ms: int, timeout_ms: int) -> int:
        """Matching steps until the order is done or the timeout cancels its remainder;
        returns the time it was done."""
        deadline = start_ms + timeout_ms
        t = start_ms
        market, engine, symbol = self.market, self.engine, self.rules.symbol
        while order.is_open and t < deadline:
            nxt = min(t + STEP_MS, deadline)
            self._now = nxt
            engine.new_step()
            low, high = market.range_between(t, nxt)
            engine.step(symbol, nxt, low, high, Decimal(nxt - t) / 1000, start_ms=t,
                        range_since=functools.partial(market.range_between, b_ms=nxt))
            t = nxt
        if order.is_open:
            engine.cancel(order, deadline)
            return deadline
        return order.update_ms


def bars_of(candles: Sequence[Candle]) -> tuple[Bar, ...]:
    return tuple(Bar(c.open_time_ms, c.open, c.high, c.low, c.close, c.volume, c.quote_volume)
                 for c in candles)
