"""The books rebuilt from the exchange's own records, when Redis lost them. Pure: the venue's
order reports and trades in, orders, fills, cost basis, core floor and trade times out (no
I/O, no clock: ``now_ms`` is passed in).

What counts:

- Orders of ours: a report whose client order id carries our prefix
  (``daemon.domain.client_ids.is_ours``). Each is rebuilt the way the daemon adopts an order it
  does not know (``reconcile.adopt_order``) and its trades are applied as ``OrderFilled``
  events: the order model's own rules, no second copy of them.
- Fills of ours: the trades of those orders, plus trades whose own ``clientOrderId`` carries our
  prefix (their order could not be looked up: counted, reported). Every other trade of the
  symbol is FOREIGN (manual trades, another bot): it is not booked, as the daemon never books
  it, and is reported with its net base quantity.
- Cost basis: ``CostBasis`` applied to our fills in time order, on top of an initial basis:
  config ``strategy.initial_cost_basis`` for ``base_before`` when it is given, else nothing (the
  cost of ``base_before`` stays unknown, as on a first start without it).
  ``base_before`` = base held now - net base of our fills: what was held before the first
  rebuilt fill, plus whatever manual trades, deposits and withdrawals moved meanwhile.
- Core floor and credit (an ESTIMATE): ``core_pct * base_before`` with credit 0, then
  ``next_core`` per fill of ours, in time order.
- Trade times: the time of each order's first fill (the daemon counts a trade when an order's
  first fill is booked), for the trade counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from daemon.domain.client_ids import is_ours
from daemon.domain.cost_basis import Core, CostBasis, initial_core_floor, next_core
from daemon.domain.models import Fill, OrderReport, Side
from daemon.domain.money import ZERO
from daemon.domain.orders import Order, OrderFilled
from daemon.domain.reconcile import adopt_order
from daemon.errors import InputError, OrderConflict


@dataclass(frozen=True, slots=True)
class RebuildInput:
    """``reports``: the venue's order reports by orderId (allOrders, openOrders, lookups);
    ``trades``: myTrades of the symbol; ``base_total``: base held now (free + locked)."""

    reports: Mapping[str, OrderReport]
    trades: Sequence[Fill]
    prefix: str
    base_asset: str
    quote_asset: str
    base_total: Decimal
    initial_cost: Decimal | None
    core_pct: Decimal
    recent_orders_max: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class RebuiltBooks:
    open_orders: tuple[Order, ...]
    closed_orders: tuple[Order, ...]  # the newest ``recent_orders_max``, newest first
    closed_dropped: int  # older closed orders beyond the cap (their fills stay booked)
    fills: tuple[Fill, ...]  # ours, oldest first
    cost: CostBasis
    base_before: Decimal
    core_floor: Decimal
    core_credit: Decimal
    trade_times_ms: tuple[int, ...]  # first fill of each order of ours, oldest first
    foreign_trades: int
    foreign_net_base: Decimal
    notes: tuple[str, ...]  # what could not be rebuilt or known, in words

    @property
    def orders(self) -> tuple[Order, ...]:
        return (*self.open_orders, *self.closed_orders)


def our_reports(reports: Sequence[OrderReport], prefix: str) -> list[OrderReport]:
    """The reports of orders of ours, newest first."""
    mine = [r for r in reports if is_ours(r.client_order_id, prefix)]
    return sorted(mine, key=lambda r: (r.time_ms, r.order_id), reverse=True)


def net_base(fill: Fill, base_asset: str) -> Decimal:
    """What ``fill`` changed the base holding by (a fee paid in base counts)."""
    fee = fill.fee if fill.fee_asset.upper() == base_asset.upper() else ZERO
    return fill.qty - fee if fill.side is Side.BUY else -fill.qty - fee


def rebuild_books(data: RebuildInput) -> RebuiltBooks:
    """See the module docstring."""
    notes: list[str] = []
    trades_of: dict[str, list[Fill]] = {}
    for t in sorted(data.trades, key=lambda t: (t.time_ms, t.trade_id)):
        trades_of.setdefault(t.order_id, []).append(t)
    mine = our_reports(list(data.reports.values()), data.prefix)
    orders = _orders(data, mine, trades_of, notes)
    our_ids = {r.order_id for r in mine}
    fills: list[Fill] = []
    foreign: list[Fill] = []
    for order_id, trades in trades_of.items():
        if order_id in our_ids:
            fills += trades
        elif any(is_ours(t.client_order_id, data.prefix) for t in trades):
            fills += trades
            notes.append(f"order {order_id} ({trades[0].client_order_id}): {len(trades)} "
                         "fill(s) of ours booked without the order (its report is missing)")
        else:
            foreign += trades
    fills.sort(key=lambda f: (f.time_ms, f.trade_id))
    base_before = data.base_total - sum((net_base(f, data.base_asset) for f in fills), ZERO)
    if base_before < 0:
        notes.append(f"base held now minus our fills is {base_before} (below 0: base left "
                     "the account outside our orders); counted as 0")
        base_before = ZERO
    cost = (CostBasis.initial(data.initial_cost, base_before) if data.initial_cost is not None
            else CostBasis()).apply_all(fills, base_asset=data.base_asset,
                                        quote_asset=data.quote_asset)
    core = Core(initial_core_floor(base_before, data.core_pct))
    for f in fills:
        core = next_core(core, f, data.core_pct, data.base_asset)
    floor = core.floor if core.floor is not None else ZERO
    open_orders = tuple(sorted((o for o in orders if o.is_open),
                               key=lambda o: (o.created_ms, o.client_order_id)))
    closed = sorted((o for o in orders if not o.is_open),
                    key=lambda o: (o.updated_ms, o.client_order_id), reverse=True)
    first: dict[str, int] = {}
    for f in fills:
        first.setdefault(f.order_id, f.time_ms)
    return RebuiltBooks(
        open_orders=open_orders, closed_orders=tuple(closed[:data.recent_orders_max]),
        closed_dropped=max(0, len(closed) - data.recent_orders_max), fills=tuple(fills),
        cost=cost, base_before=base_before, core_floor=floor, core_credit=core.credit,
        trade_times_ms=tuple(sorted(first.values())),
        foreign_trades=len(foreign),
        foreign_net_base=sum((net_base(f, data.base_asset) for f in foreign), ZERO),
        notes=tuple(notes))


def _orders(data: RebuildInput, mine: Sequence[OrderReport],
            trades_of: Mapping[str, list[Fill]], notes: list[str]) -> list[Order]:
    """The orders of ours to store (their fills are ours either way)."""
    out: list[Order] = []
    for report in mine:
        try:
            order = adopt_order(report, data.now_ms)
            for fill in trades_of.get(report.order_id, ()):
                order = order.apply(OrderFilled(fill))
        except (InputError, OrderConflict) as exc:
            notes.append(f"order {report.client_order_id} ({report.order_id}) not stored: "
                         f"{exc}")
            continue
        if order.unbooked_qty > 0:
            notes.append(
                f"order {order.client_order_id}: the exchange reports {order.venue_executed_qty}"
                f" executed, its trades found cover {order.filled_qty} (older trades are "
                "beyond myTrades' month)" + ("" if order.is_open else "; not stored, so it "
                                             "does not block trading"))
            if not order.is_open:
                continue
        out.append(order)
    return out
