"""The order aggregate: one order changes only through ``Order.apply(event)``, which returns a
NEW order (or the same object when the event changes nothing).

Every source (POST/DELETE/GET /order replies, the private orders and deals streams, myTrades,
startup reconciliation) is normalised into the past-tense events below and fed to ``apply``.

Status is ``OrderState``: the venue's five statuses plus the states before the venue knows the
order (INTENT: written to Redis, not yet sent; SENT: request sent, outcome unknown), REJECTED
(the venue definitively refused the submit) and LOST (not found after several queries; still
watched for late reports and fills).

Transition table (``ALLOWED``; a status change not listed is IGNORED, never applied, so late or
out-of-order updates cannot move an order backwards; ``Order.step`` says which change it ignored
and why, as an :class:`IgnoredTransition`, for the caller to log and count)::

    INTENT             -> SENT, NEW, PARTIALLY_FILLED, FILLED, CANCELED, PARTIALLY_CANCELED,
                          REJECTED, LOST       (a crash between send and "SENT" leaves INTENT)
    SENT               -> NEW, PARTIALLY_FILLED, FILLED, CANCELED, PARTIALLY_CANCELED,
                          REJECTED, LOST
    LOST               -> NEW, PARTIALLY_FILLED, FILLED, CANCELED, PARTIALLY_CANCELED
    NEW                -> PARTIALLY_FILLED, FILLED, CANCELED, PARTIALLY_CANCELED
    PARTIALLY_FILLED   -> FILLED, PARTIALLY_CANCELED
    CANCELED           -> FILLED, PARTIALLY_CANCELED   (venue quirk, see below)
    FILLED, PARTIALLY_CANCELED, REJECTED: terminal

Venue quirk: a fill can be matched while the cancel is in flight; the cancel ack (CANCELED)
then arrives before the fill push/myTrades row. So CANCELED moves on to PARTIALLY_CANCELED or
FILLED when a fill shows up. A reported CANCELED with filled quantity > 0 is read as
PARTIALLY_CANCELED, a reported NEW with filled quantity > 0 as PARTIALLY_FILLED.

Fills are keyed by trade id: a repeated trade id is ignored, the same trade id with another
price/quantity raises ``OrderConflict``. ``filled_qty`` is the sum of the distinct fills (what
is booked); the venue's cumulative ``executedQty`` is kept apart as ``venue_executed_qty`` so
``unbooked_qty`` says how much the deals stream/myTrades still owe us. Fills are accepted in
every state except REJECTED (a FILLED order still books a late deals push). Contradictions that
no ordering explains (another venue order id, other side, over-fill, a fill on a REJECTED
order) raise ``OrderConflict``.

Pure: no I/O, no clock (times are passed in events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.errors import OrderConflict


class OrderState(StrEnum):
    INTENT = "INTENT"
    SENT = "SENT"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PARTIALLY_CANCELED = "PARTIALLY_CANCELED"
    REJECTED = "REJECTED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def open(self) -> bool:
        """May still trade at the venue and is actively tracked (LOST is only watched)."""
        return self in _OPEN


S = OrderState
_TERMINAL = frozenset({S.FILLED, S.CANCELED, S.PARTIALLY_CANCELED, S.REJECTED})
_OPEN = frozenset({S.INTENT, S.SENT, S.NEW, S.PARTIALLY_FILLED})
_VENUE = frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.PARTIALLY_CANCELED})

ALLOWED: Mapping[OrderState, frozenset[OrderState]] = {
    S.INTENT: _VENUE | {S.SENT, S.REJECTED, S.LOST},
    S.SENT: _VENUE | {S.REJECTED, S.LOST},
    S.LOST: _VENUE,
    S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.PARTIALLY_CANCELED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.PARTIALLY_CANCELED}),
    # Venue quirk: a late fill after the cancel ack (the fill was matched during the cancel).
    S.CANCELED: frozenset({S.FILLED, S.PARTIALLY_CANCELED}),
    S.FILLED: frozenset(),
    S.PARTIALLY_CANCELED: frozenset(),
    S.REJECTED: frozenset(),
}

# Progress rank: an allowed transition never lowers it (LOST sits between SENT and NEW).
RANK: Mapping[OrderState, int] = {
    S.INTENT: 0, S.SENT: 1, S.LOST: 2, S.NEW: 3, S.PARTIALLY_FILLED: 4,
    S.FILLED: 5, S.CANCELED: 5, S.PARTIALLY_CANCELED: 5, S.REJECTED: 5,
}


def can_transition(current: OrderState, proposed: OrderState) -> bool:
    return proposed in ALLOWED[current]


class IgnoredKind(StrEnum):
    """Why the table refused a status change."""

    STALE = "stale"  # the proposed status ranks below the current one: an older update
    AFTER_TERMINAL = "after_terminal"  # another end for an order that has ended
    NOT_ALLOWED = "not_allowed"  # any other change the table does not list


@dataclass(frozen=True, slots=True)
class IgnoredTransition:
    """A status change an event proposed and the table refused: the order kept ``current``
    (the event's other facts, e.g. a fill, may still have been applied)."""

    kind: IgnoredKind
    current: OrderState
    proposed: OrderState


def ignored_kind(current: OrderState, proposed: OrderState) -> IgnoredKind:
    """The kind of a refused change ``current -> proposed`` (``can_transition`` is False)."""
    if RANK[proposed] < RANK[current]:
        return IgnoredKind.STALE
    if current.terminal:
        return IgnoredKind.AFTER_TERMINAL
    return IgnoredKind.NOT_ALLOWED


# ---------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    """The POST /order request is about to go / went out (outcome unknown until answered)."""

    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """POST /order answered with the venue's orderId."""

    order_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderSubmitFailed:
    """The venue definitively refused the order (OrderRejected). NOT for OutcomeUnknown."""

    reason: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderStatusReported:
    """A REST order object, a DELETE reply or a private orders push (cumulative figures)."""

    report: OrderReport


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """One own trade (private deals push or myTrades row)."""

    fill: Fill


@dataclass(frozen=True, slots=True)
class OrderCancelRequested:
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    """The venue acknowledged a cancel without figures (prefer OrderStatusReported)."""

    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderNotFound:
    """A query by id answered -2013/-2011: counts toward marking an INTENT/SENT order lost
    (``not_found_count``); ignored once the venue has confirmed the order."""

    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderMarkedLost:
    reason: str
    ts_ms: int


OrderEvent = (
    OrderSubmitted | OrderAccepted | OrderSubmitFailed | OrderStatusReported | OrderFilled
    | OrderCancelRequested | OrderCanceled | OrderNotFound | OrderMarkedLost
)


@dataclass(frozen=True, slots=True)
class Applied:
    """The result of ``Order.step``: the order after the event, and the status change the
    event proposed that the table refused (None when there was none)."""

    order: Order
    ignored: IgnoredTransition | None = None


# ----------------------------------------------------------------------------------- order


@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    symbol: str
    side: Side
    order_type: str
    qty: Decimal
    price: Decimal | None
    created_ms: int
    status: OrderState = OrderState.INTENT
    order_id: str | None = None
    updated_ms: int = 0
    fills: tuple[Fill, ...] = ()
    venue_executed_qty: Decimal = Decimal(0)
    venue_cum_quote: Decimal = Decimal(0)
    cancel_requested_ms: int | None = None
    not_found_count: int = 0
    lost_ms: int | None = None
    reject_reason: str | None = None
    version: int = 0  # +1 on every change; the store never overwrites a newer version
    tag: str = ""  # free text from the caller (e.g. plan reason code)
    _trade_ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"order {self.client_order_id}: qty must be > 0, got {self.qty}")
        if self.price is not None and self.price <= 0:
            raise ValueError(f"order {self.client_order_id}: price must be > 0, got {self.price}")
        ids = frozenset(f.trade_id for f in self.fills)
        if len(ids) != len(self.fills):
            raise ValueError(f"order {self.client_order_id}: fills repeat a trade id")
        object.__setattr__(self, "_trade_ids", ids)

    # ------------------------------------------------------------------ derived figures
    @property
    def trade_ids(self) -> frozenset[str]:
        return self._trade_ids

    @property
    def filled_qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))

    @property
    def cum_quote(self) -> Decimal:
        return sum((f.quote_qty for f in self.fills), Decimal(0))

    @property
    def avg_px(self) -> Decimal | None:
        filled = self.filled_qty
        return self.cum_quote / filled if filled else None

    @property
    def fees(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for f in self.fills:
            out[f.fee_asset] = out.get(f.fee_asset, Decimal(0)) + f.fee
        return out

    @property
    def executed_qty(self) -> Decimal:
        """Best knowledge of the executed quantity: booked fills or the venue's figure."""
        return max(self.filled_qty, self.venue_executed_qty)

    @property
    def leaves_qty(self) -> Decimal:
        if self.status.terminal:
            return Decimal(0)
        return max(self.qty - self.executed_qty, Decimal(0))

    @property
    def unbooked_qty(self) -> Decimal:
        """Quantity the venue reports executed for which no fill is booked yet."""
        return max(self.venue_executed_qty - self.filled_qty, Decimal(0))

    @property
    def is_terminal(self) -> bool:
        return self.status.terminal

    @property
    def is_open(self) -> bool:
        return self.status.open

    def lost_watch_over(self, now_ms: int, watch_s: float) -> bool:
        """True when a LOST order has been watched for ``watch_s`` and can be forgotten."""
        return self.status is S.LOST and self.lost_ms is not None and (
            now_ms - self.lost_ms >= watch_s * 1000
        )

    # ------------------------------------------------------------------------- apply
    def step(self, event: OrderEvent) -> Applied:
        """``apply`` that also tells which status change the table ignored, if any."""
        new, ignored = _dispatch(self, event)
        if new is self or new == self:
            return Applied(self, ignored)
        return Applied(replace(new, version=self.version + 1), ignored)

    def apply(self, event: OrderEvent) -> Order:
        """The order after ``event``; ``self`` when the event changes nothing (duplicate, late
        or not allowed by the table). Raises OrderConflict on contradictory facts."""
        return self.step(event).order


def new_intent(client_order_id: str, symbol: str, side: Side, order_type: str, qty: Decimal,
               price: Decimal | None, now_ms: int, tag: str = "") -> Order:
    """A fresh order in INTENT, version 1 (ready for RedisStore.write_intent)."""
    return Order(client_order_id=client_order_id, symbol=symbol, side=side,
                 order_type=order_type, qty=qty, price=price, created_ms=now_ms,
                 updated_ms=now_ms, version=1, tag=tag)


Moved = tuple[Order, IgnoredTransition | None]


def _move(order: Order, proposed: OrderState, ts_ms: int) -> Moved:
    if proposed is order.status:
        return order, None
    if not can_transition(order.status, proposed):
        kind = ignored_kind(order.status, proposed)
        return order, IgnoredTransition(kind, order.status, proposed)
    lost_ms = ts_ms if proposed is S.LOST else order.lost_ms
    return replace(order, status=proposed, updated_ms=max(order.updated_ms, ts_ms),
                   lost_ms=lost_ms), None


def _check_order_id(order: Order, order_id: str | None, what: str) -> Order:
    if not order_id:
        return order
    if order.order_id is None:
        return replace(order, order_id=order_id)
    if order.order_id != order_id:
        raise OrderConflict(
            f"order {order.client_order_id}: {what} names venue order id {order_id!r}, "
            f"but the order is {order.order_id!r}"
        )
    return order


def _dispatch(order: Order, event: OrderEvent) -> Moved:
    if isinstance(event, OrderFilled):
        return _apply_fill(order, event.fill)
    if isinstance(event, OrderStatusReported):
        return _apply_report(order, event.report)
    if isinstance(event, OrderSubmitted):
        return _move(order, S.SENT, event.ts_ms)
    if isinstance(event, OrderAccepted):
        accepted = _check_order_id(order, event.order_id, "the submit reply")
        if accepted.status in (S.INTENT, S.SENT, S.LOST):
            return _move(accepted, S.NEW, event.ts_ms)
        return accepted, None
    if isinstance(event, OrderSubmitFailed):
        moved, ignored = _move(order, S.REJECTED, event.ts_ms)
        return (moved if moved is order else replace(moved, reject_reason=event.reason)), ignored
    if isinstance(event, OrderCancelRequested):
        if order.is_terminal or order.cancel_requested_ms is not None:
            return order, None
        return replace(order, cancel_requested_ms=event.ts_ms), None
    if isinstance(event, OrderCanceled):
        target = S.PARTIALLY_CANCELED if order.executed_qty > 0 else S.CANCELED
        return _move(order, target, event.ts_ms)
    if isinstance(event, OrderNotFound):
        if order.status not in (S.INTENT, S.SENT):
            return order, None  # only an order the venue never confirmed can become LOST
        return replace(order, not_found_count=order.not_found_count + 1), None
    if isinstance(event, OrderMarkedLost):
        return _move(order, S.LOST, event.ts_ms)
    raise TypeError(f"not an order event: {event!r}")


def _venue_status(status: OrderStatus, executed: Decimal, qty: Decimal) -> OrderState:
    state = OrderState(status.value)
    if state is S.CANCELED and executed > 0:
        return S.PARTIALLY_CANCELED
    if state is S.NEW and executed > 0:
        return S.FILLED if executed >= qty else S.PARTIALLY_FILLED
    return state


def _apply_report(order: Order, report: OrderReport) -> Moved:
    who = f"order {order.client_order_id}"
    if report.client_order_id and report.client_order_id != order.client_order_id:
        raise OrderConflict(f"{who}: report is for client order id {report.client_order_id!r}")
    if report.side is not order.side:
        raise OrderConflict(f"{who}: report side {report.side} but the order is {order.side}")
    if report.executed_qty > order.qty:
        raise OrderConflict(
            f"{who}: venue reports executedQty {report.executed_qty} above qty {order.qty}")
    new = _check_order_id(order, report.order_id, "the report")
    if report.executed_qty > new.venue_executed_qty:
        new = replace(new, venue_executed_qty=report.executed_qty,
                      venue_cum_quote=max(report.cum_quote_qty, new.venue_cum_quote))
    executed = max(new.executed_qty, report.executed_qty)
    target = _venue_status(report.status, executed, order.qty)
    moved, ignored = _move(new, target, report.update_time_ms)
    if moved is new and new is not order:
        moved = replace(new, updated_ms=max(new.updated_ms, report.update_time_ms))
    if moved.status is not S.LOST and moved.not_found_count:
        moved = replace(moved, not_found_count=0)
    return moved, ignored


# quoteQty is price x qty cut to the quote precision: a relative gap above this is not a cut
QUOTE_TOLERANCE = Decimal("0.001")


def _check_fill_price(order: Order, fill: Fill, who: str) -> None:
    """A fill the order could not have had is a contradiction, never booked: beyond the
    order's limit (a BUY above it, a SELL below it), or a quote amount that is not its price
    times its quantity (a price reported x100, say)."""
    limit = None if order.order_type == "MARKET" else order.price  # a MARKET price: a reference
    if limit is not None and limit > 0 and fill.price > 0 and (
            (order.side is Side.BUY and fill.price > limit)
            or (order.side is Side.SELL and fill.price < limit)):
        raise OrderConflict(f"{who}: fill {fill.trade_id} at {fill.price} is beyond the "
                            f"order's limit {limit} ({order.side.value})")
    notional = fill.price * fill.qty
    if fill.quote_qty > 0 and abs(fill.quote_qty - notional) > notional * QUOTE_TOLERANCE:
        raise OrderConflict(f"{who}: fill {fill.trade_id} quoteQty {fill.quote_qty} is not "
                            f"price {fill.price} x qty {fill.qty}")


def _apply_fill(order: Order, fill: Fill) -> Moved:
    who = f"order {order.client_order_id}"
    if fill.trade_id in order.trade_ids:
        known = next(f for f in order.fills if f.trade_id == fill.trade_id)
        if (known.qty, known.price, known.side) != (fill.qty, fill.price, fill.side):
            raise OrderConflict(
                f"{who}: trade {fill.trade_id} seen with qty {known.qty} @ {known.price}, "
                f"now {fill.qty} @ {fill.price}")
        return order, None
    if order.status is S.REJECTED:
        raise OrderConflict(f"{who}: fill {fill.trade_id} on an order the venue rejected")
    if fill.client_order_id and fill.client_order_id != order.client_order_id:
        raise OrderConflict(f"{who}: fill {fill.trade_id} is for {fill.client_order_id!r}")
    if fill.side is not order.side:
        raise OrderConflict(f"{who}: fill {fill.trade_id} side {fill.side}, order {order.side}")
    if fill.qty <= 0:
        raise OrderConflict(f"{who}: fill {fill.trade_id} has qty {fill.qty}")
    _check_fill_price(order, fill, who)
    filled = order.filled_qty + fill.qty
    if filled > order.qty:
        raise OrderConflict(
            f"{who}: fill {fill.trade_id} makes filled {filled} above qty {order.qty}")
    new = _check_order_id(order, fill.order_id, f"fill {fill.trade_id}")
    new = replace(new, fills=(*new.fills, fill), updated_ms=max(new.updated_ms, fill.time_ms))
    if filled >= order.qty:
        target = S.FILLED
    elif new.status is S.CANCELED:
        target = S.PARTIALLY_CANCELED  # venue quirk: late fill after the cancel ack
    else:
        target = S.PARTIALLY_FILLED
    return _move(new, target, fill.time_ms)
