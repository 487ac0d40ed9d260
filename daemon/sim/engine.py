"""The simulator's matching engine: balances, orders, fills and fees. Synchronous and pure-ish:
no I/O, no clock (every call takes ``now_ms``, simulated market time), no asyncio.

Matching model:
- An order placed against the market takes liquidity from a synthesized finite book
  (``BookFn``); each level's quantity is consumed for the current matching step and refreshed on
  the next step (``new_step``), so a large or aggressive order fills partially.
- LIMIT remainders rest; a resting BUY at P fills (as maker, at P) in a later step when the market
  path traded at or below P (a SELL: at or above P), at most one level's worth of quote per
  simulated second elapsed since the previous step.
- ``partial_fill_ratio`` (tests): each matching step fills at most that share of the remaining
  quantity (the whole remainder once the share rounds to zero).
- MARKET/IMMEDIATE_OR_CANCEL remainders are canceled (PARTIALLY_CANCELED / CANCELED);
  FILL_OR_KILL fills completely from the book or not at all; LIMIT_MAKER that would take is
  canceled at once (real MEXC behaviour UNSURE).
- Fees: the received asset pays the commission (BUY: base, SELL: quote), maker or taker rate.
- Trade ids: every fill has a push id (``tradeId`` of the deals push, ``<digits>X<n>``) and a
  REST id (``myTrades.id``): with ``distinct_trade_ids`` 32 lowercase hex characters derived
  from the seed and the push id (as the real MEXC, PROTOCOL.md 9), else the push id.
Every balance change is recorded as an account event, every order change as an order event and
every fill as a deal event; the server turns them into websocket pushes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from daemon.domain.money import ZERO, floor_to, fmt

Level = tuple[Decimal, Decimal]
BookFn = Callable[[str], tuple[list[Level], list[Level]]]  # symbol -> (bids, asks) best first

ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
WS_ORDER_TYPE = {"LIMIT": 1, "LIMIT_MAKER": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4,
                 "MARKET": 5}
WS_STATUS = {"NEW": 1, "FILLED": 2, "PARTIALLY_FILLED": 3, "CANCELED": 4,
             "PARTIALLY_CANCELED": 5}
TERMINAL = ("FILLED", "CANCELED", "PARTIALLY_CANCELED")
_TIF = {"LIMIT": "GTC", "LIMIT_MAKER": "GTC", "MARKET": "IOC", "IMMEDIATE_OR_CANCEL": "IOC",
        "FILL_OR_KILL": "FOK"}


def _by_quote(order: Order) -> bool:
    """A MARKET order sized by quoteOrderQty instead of quantity."""
    return order.type == "MARKET" and order.orig_quote_qty > 0 and order.orig_qty == 0


class SimError(Exception):
    """A rejection with MEXC's own code and text; rendered as {"code":..,"msg":..}."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        self.code = code
        self.msg = msg
        self.http_status = http_status
        super().__init__(f"{code}: {msg}")


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str
    base_asset: str
    quote_asset: str
    base_precision: int
    quote_precision: int
    min_qty: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    status: str = "1"  # exchangeInfo status: "1" online, "2" paused, "3" offline
    spot_trading_allowed: bool = True  # exchangeInfo isSpotTradingAllowed


@dataclass(slots=True)
class Order:
    symbol: str
    order_id: str
    client_order_id: str | None
    side: str
    type: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time_ms: int
    update_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO  # what this order still holds locked (quote for BUY, base for SELL)
    n_fills: int = 0
    ref_price: Decimal = ZERO  # market price at placement (reported by a MARKET order)
    blank_client_id: str | None = None  # reported ("" or null) when placed without a client id

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def to_mexc(self) -> dict[str, Any]:
        """MEXC's order object (GET /order, openOrders, allOrders)."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": fmt(self.price),
            "origQty": fmt(self.orig_qty), "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote), "status": self.status,
            "timeInForce": _TIF[self.type], "type": self.type, "side": self.side,
            "stopPrice": "0", "icebergQty": "0", "time": self.time_ms,
            "updateTime": self.update_ms, "isWorking": self.is_open, "stpMode": "",
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
        }


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    trade_id: str  # as the deals push and the public tape name it
    order_id: str
    client_order_id: str | None
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool
    rest_id: str = ""  # as REST myTrades names it ("" = trade_id)

    def to_mexc(self) -> dict[str, Any]:
        """MEXC's myTrades row."""
        return {
            "symbol": self.symbol, "id": self.rest_id or self.trade_id, "orderId": self.order_id,
            "orderListId": -1, "price": fmt(self.price), "qty": fmt(self.qty),
            "quoteQty": fmt(self.quote_qty), "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset, "time": self.time_ms,
            "isBuyer": self.side == "BUY", "isMaker": self.is_maker, "isBestMatch": True,
            "isSelfTrade": False, "clientOrderId": self.client_order_id,
        }


@dataclass(frozen=True, slots=True)
class AccountEvent:
    asset: str
    free: Decimal
    free_delta: Decimal
    locked: Decimal
    locked_delta: Decimal
    kind: str  # ENTRUST_PLACE, ENTRUST (deal), ENTRUST_CANCEL
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order: Order  # a snapshot
    last_deal_qty: Decimal | None
    is_maker: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class DealEvent:
    trade: Trade


Event = AccountEvent | OrderEvent | DealEvent


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated POST /api/v3/order."""

    symbol: str
    side: str
    type: str
    quantity: Decimal | None
    quote_qty: Decimal | None
    price: Decimal | None
    client_order_id: str | None


@dataclass
class Engine:
    specs: dict[str, SymbolSpec]
    free: dict[str, Decimal]
    book: BookFn
    partial_fill_ratio: Decimal | None = None
    id_base: int = 500_000_000_000_000_000_000
    distinct_trade_ids: bool = False
    seed: int = 1
    locked: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    _open: dict[str, Order] = field(default_factory=dict)  # the not-yet-terminal orders
    _seq: int = 0
    _consumed: dict[tuple[str, str, Decimal], Decimal] = field(default_factory=dict)

    # -- balances -------------------------------------------------------------------------
    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        assets = sorted(set(self.free) | set(self.locked))
        return {a: (self.free.get(a, ZERO), self.locked.get(a, ZERO)) for a in assets}

    def _move(self, asset: str, free: Decimal, locked: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + free
        self.locked[asset] = self.locked.get(asset, ZERO) + locked

    def _record_accounts(self, before: dict[str, tuple[Decimal, Decimal]], kind: str,
                         now_ms: int) -> None:
        for asset, (free, locked) in self.balances().items():
            f0, l0 = before.get(asset, (ZERO, ZERO))
            if (free, locked) != (f0, l0):
                self.events.append(AccountEvent(asset, free, free - f0, locked, locked - l0,
                                                kind, now_ms))

    def drain_events(self) -> list[Event]:
        out, self.events = self.events, []
        return out

    # -- orders ---------------------------------------------------------------------------
    def new_step(self) -> None:
        """Refresh the synthesized book's liquidity (start of a matching step)."""
        self._consumed.clear()

    def consumed(self, symbol: str) -> dict[tuple[str, Decimal], Decimal]:
        """Liquidity taken from the synthesized book in this step: (taker side, price) -> qty."""
        return {(side, price): q for (sym, side, price), q in self._consumed.items()
                if sym == symbol}

    def find(self, symbol: str, order_id: str | None, client_id: str | None) -> Order | None:
        oid = order_id or (self.by_client_id.get(client_id) if client_id else None)
        order = self.orders.get(oid) if oid else None
        if order is None or order.symbol != symbol:
            return None
        if order_id and client_id and order.client_order_id != client_id:
            return None
        return order

    def place(self, req: OrderRequest, now_ms: int, ref_price: Decimal = ZERO) -> Order:
        """Validate balance and place; raises SimError (nothing changed) on rejection.
        ``ref_price``: the market price now, which a MARKET order reports as its price."""
        spec = self.specs[req.symbol]
        used = self.by_client_id.get(req.client_order_id) if req.client_order_id else None
        if used is not None:
            # UNSURE: MEXC's code for a reused client order id is not documented.
            raise SimError(603, f"Repeated request: newClientOrderId {req.client_order_id!r} "
                                f"is already used by order {used}")
        self._seq += 1
        order = Order(req.symbol, f"C02__{self.id_base + self._seq}", req.client_order_id,
                      req.side, req.type, req.price or ZERO, req.quantity or ZERO,
                      req.quote_qty or ZERO, now_ms, now_ms,
                      ref_price=ref_price if req.type == "MARKET" else ZERO)
        before = self.balances()
        self._lock_for(order, spec)  # raises before any state change
        self.orders[order.order_id] = order
        self._open[order.order_id] = order
        if order.client_order_id:
            self.by_client_id[order.client_order_id] = order.order_id
        self._record_accounts(before, "ENTRUST_PLACE", now_ms)
        self._emit_order(order, None, False, now_ms)
        self._match_on_entry(order, spec, now_ms)
        return order

    def _lock_for(self, order: Order, spec: SymbolSpec) -> None:
        if order.type == "MARKET":
            need = self._market_need(order, spec)
        elif order.side == "BUY":
            need = order.orig_qty * order.price
        else:
            need = order.orig_qty
        asset = spec.quote_asset if order.side == "BUY" else spec.base_asset
        if self.free.get(asset, ZERO) < need:
            if order.side == "BUY":
                raise SimError(30004, "Insufficient position")
            raise SimError(30005, "Oversold")
        self._move(asset, -need, need)
        order.locked = need

    def _market_need(self, order: Order, spec: SymbolSpec) -> Decimal:
        """What a MARKET order must hold: the quote (BUY) or base (SELL) its fills would use."""
        if order.side == "BUY" and order.orig_quote_qty:
            return order.orig_quote_qty
        if order.side == "SELL" and order.orig_qty:
            return order.orig_qty
        fills = self._walk(order, spec, dry_run=True)
        if order.side == "BUY":
            return sum((p * q for p, q in fills), ZERO)
        return sum((q for _, q in fills), ZERO)

    def _step_cap(self, remaining: Decimal, decimals: int) -> Decimal:
        if self.partial_fill_ratio is None:
            return remaining
        cap = floor_to(remaining * self.partial_fill_ratio, decimals)
        return cap if cap > 0 else remaining

    def _walk(self, order: Order, spec: SymbolSpec, *, dry_run: bool = False,
              ignore_ratio: bool = False) -> list[Level]:
        """Take liquidity from the book up to the order's limit: [(price, qty)]."""
        bids, asks = self.book(order.symbol)
        levels = asks if order.side == "BUY" else bids
        by_quote = _by_quote(order)
        want = order.orig_quote_qty - order.cum_quote if by_quote else order.remaining
        if not ignore_ratio:
            want = self._step_cap(want, spec.quote_precision if by_quote else spec.base_precision)
        out: list[Level] = []
        for price, qty in levels:
            if want <= 0:
                break
            if order.type != "MARKET" and (
                    price > order.price if order.side == "BUY" else price < order.price):
                break
            key = (order.symbol, order.side, price)
            avail = qty - self._consumed.get(key, ZERO)
            take = min(avail, floor_to(want / price, spec.base_precision) if by_quote else want)
            if take <= 0:
                if by_quote and avail > 0:
                    break  # the rest of the quote buys less than one quantity step
                continue
            out.append((price, take))
            want -= take * price if by_quote else take
            if not dry_run:
                self._consumed[key] = self._consumed.get(key, ZERO) + take
        return out

    def _match_on_entry(self, order: Order, spec: SymbolSpec, now_ms: int) -> None:
        bids, asks = self.book(order.symbol)
        if order.type == "LIMIT_MAKER":
            crosses = bool(asks and order.price >= asks[0][0]) if order.side == "BUY" else bool(
                bids and order.price <= bids[0][0])
            if crosses:
                self._close(order, now_ms)
            return
        if order.type == "FILL_OR_KILL":
            fills = self._walk(order, spec, dry_run=True, ignore_ratio=True)
            if sum((q for _, q in fills), ZERO) < order.orig_qty:
                self._close(order, now_ms)
                return
            fills = self._walk(order, spec, ignore_ratio=True)
        else:
            fills = self._walk(order, spec)
        for price, qty in fills:
            self._fill(order, spec, price, qty, False, now_ms)
        if order.type in ("MARKET", "IMMEDIATE_OR_CANCEL") and order.is_open:
            self._close(order, now_ms)

    def _fill(self, order: Order, spec: SymbolSpec, price: Decimal, qty: Decimal,
              is_maker: bool, now_ms: int) -> None:
        before = self.balances()
        quote = price * qty
        rate = spec.maker_fee if is_maker else spec.taker_fee
        if order.side == "BUY":
            fee, fee_asset = qty * rate, spec.base_asset
            self._move(spec.quote_asset, ZERO, -quote)
            self._move(spec.base_asset, qty - fee, ZERO)
            order.locked -= quote
            if order.type != "MARKET" and price < order.price:
                improvement = (order.price - price) * qty  # locked at the limit, paid less
                self._move(spec.quote_asset, improvement, -improvement)
                order.locked -= improvement
        else:
            fee, fee_asset = quote * rate, spec.quote_asset
            self._move(spec.base_asset, ZERO, -qty)
            self._move(spec.quote_asset, quote - fee, ZERO)
            order.locked -= qty
        order.executed_qty += qty
        order.cum_quote += quote
        order.n_fills += 1
        order.update_ms = now_ms
        digits = order.order_id[len("C02__"):]
        push_id = f"{digits}X{order.n_fills}"
        trade = Trade(order.symbol, push_id, order.order_id,
                      order.client_order_id, order.side, price, qty, quote, fee.normalize(),
                      fee_asset, now_ms, is_maker, rest_id=self._rest_id(push_id))
        self.trades.append(trade)
        if self._complete(order, spec, price):
            order.status = "FILLED"
            self._open.pop(order.order_id, None)
            self._release(order, spec)
        else:
            order.status = "PARTIALLY_FILLED"
        self._record_accounts(before, "ENTRUST", now_ms)
        self.events.append(DealEvent(trade))
        self._emit_order(order, qty, is_maker, now_ms)

    def _rest_id(self, push_id: str) -> str:
        if not self.distinct_trade_ids:
            return push_id
        return hashlib.md5(f"trade-{self.seed}-{push_id}".encode()).hexdigest()

    @staticmethod
    def _complete(order: Order, spec: SymbolSpec, price: Decimal) -> bool:
        if _by_quote(order):
            # done once the quote left buys less than one quantity step
            left = order.orig_quote_qty - order.cum_quote
            return left < price * Decimal(1).scaleb(-spec.base_precision)
        return order.remaining <= 0

    def _release(self, order: Order, spec: SymbolSpec) -> None:
        asset = spec.quote_asset if order.side == "BUY" else spec.base_asset
        if order.locked:
            self._move(asset, order.locked, -order.locked)
            order.locked = ZERO

    def _close(self, order: Order, now_ms: int) -> None:
        """Cancel the remainder (user cancel, IOC/MARKET remainder, FOK/maker rejection)."""
        spec = self.specs[order.symbol]
        before = self.balances()
        self._release(order, spec)
        order.status = "PARTIALLY_CANCELED" if order.executed_qty > 0 else "CANCELED"
        self._open.pop(order.order_id, None)
        order.update_ms = now_ms
        self._record_accounts(before, "ENTRUST_CANCEL", now_ms)
        self._emit_order(order, None, False, now_ms)

    def cancel(self, order: Order, now_ms: int) -> Order:
        if not order.is_open:
            raise SimError(-2011, "Unknown order sent.")
        self._close(order, now_ms)
        return order

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self._open.values() if symbol is None or o.symbol == symbol]

    def step(self, symbol: str, now_ms: int, low: Decimal, high: Decimal,
             elapsed_s: Decimal, *, start_ms: int | None = None,
             range_since: Callable[[int], tuple[Decimal, Decimal]] | None = None) -> None:
        """A matching step for resting orders: the market traded between low and high over the
        last ``elapsed_s`` simulated seconds (since ``start_ms``). An order placed after
        ``start_ms`` only sees the market since its placement (``range_since``)."""
        spec = self.specs[symbol]
        for order in self.open_orders(symbol):
            lo, hi = low, high
            if range_since is not None and start_ms is not None and order.time_ms > start_ms:
                if order.time_ms >= now_ms:
                    continue
                lo, hi = range_since(order.time_ms)
            if (order.side == "BUY" and lo > order.price) or (
                    order.side == "SELL" and hi < order.price):
                continue
            level_quote = self._level_quote(symbol)
            cap = floor_to(level_quote * max(Decimal(1), elapsed_s) / order.price,
                           spec.base_precision)
            qty = min(order.remaining, cap, self._step_cap(order.remaining, spec.base_precision))
            if qty > 0:
                self._fill(order, spec, order.price, qty, True, now_ms)

    def _level_quote(self, symbol: str) -> Decimal:
        bids, asks = self.book(symbol)
        best = asks[0] if asks else (bids[0] if bids else (Decimal(1), Decimal(0)))
        return best[0] * best[1]

    def _emit_order(self, order: Order, last_qty: Decimal | None, is_maker: bool,
                    now_ms: int) -> None:
        self.events.append(OrderEvent(replace(order), last_qty, is_maker, now_ms))
