"""PnL per UTC period from the booked fills, by the books' own rule: realized PnL is what
:class:`CostBasis` (the daemon's cost basis) realizes as each fill is applied in time order, so a
period's realized PnL is the change of its running total over the period's fills. Also fees,
trades, turnover, and the value of the portfolio against holding what it held before the first
fill. Pure: fills and figures in, numbers out (times are epoch ms, periods UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

from daemon.domain.cost_basis import PRECISION_DIGITS, CostBasis
from daemon.domain.models import Fill, Side
from daemon.domain.money import ZERO

PERIODS = ("day", "week")


def period_of(time_ms: int, period: str) -> str:
    """The UTC period a time falls in: ``2026-12-03`` (day) or the Monday of its ISO week,
    ``2026-11-30`` (week)."""
    day = datetime.fromtimestamp(time_ms // 1000, UTC).date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period != "day":
        raise ValueError(f"period: expected one of {PERIODS}, got {period!r}")
    return day.isoformat()


@dataclass(frozen=True, slots=True)
class PeriodPnl:
    """One period: realized PnL in quote, fees by asset, fills, buys/sells, turnover (quote
    traded) and the base quantity bought and sold."""

    period: str
    realized: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    fills: int = 0
    buys: int = 0
    sells: int = 0
    orders: int = 0
    turnover: Decimal = ZERO
    base_bought: Decimal = ZERO
    base_sold: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PnlReport:
    periods: tuple[PeriodPnl, ...]
    cost: CostBasis  # the cost basis recomputed from every fill (from an empty one)
    first_fill_ms: int | None


def pnl_by_period(fills: Iterable[Fill], period: str, *, base_asset: str,
                  quote_asset: str) -> PnlReport:
    """Apply ``fills`` in (time, trade id) order to an empty cost basis; per period the
    realized PnL it adds, the fees, fills, orders and turnover."""
    ordered = sorted(fills, key=lambda f: (f.time_ms, f.trade_id))
    cost = CostBasis()
    rows: dict[str, PeriodPnl] = {}
    orders: dict[str, set[str]] = {}
    for f in ordered:
        key = period_of(f.time_ms, period)
        before = cost.realized_pnl
        cost = cost.apply(f, base_asset=base_asset, quote_asset=quote_asset)
        row = rows.get(key) or PeriodPnl(key)
        fees = dict(row.fees)
        fees[f.fee_asset] = fees.get(f.fee_asset, ZERO) + f.fee
        ids = orders.setdefault(key, set())
        ids.add(f.order_id)
        buy = f.side is Side.BUY
        with localcontext() as ctx:  # the cost basis's own precision
            ctx.prec = PRECISION_DIGITS
            realized = row.realized + (cost.realized_pnl - before)
        rows[key] = PeriodPnl(
            key, realized, fees, row.fills + 1,
            row.buys + buy, row.sells + (not buy), len(ids), row.turnover + f.quote_qty,
            row.base_bought + (f.qty if buy else ZERO), row.base_sold + (ZERO if buy else f.qty))
    return PnlReport(tuple(rows[k] for k in sorted(rows)), cost,
                     ordered[0].time_ms if ordered else None)


def holdings_before(fills: Sequence[Fill], base_now: Decimal, quote_now: Decimal, *,
                    base_asset: str, quote_asset: str) -> tuple[Decimal, Decimal]:
    """(base, quote) held before the first of ``fills``: the balances now with every fill
    undone (a BUY's quote and quote fee given back, its base less a base fee taken away; a
    SELL the other way). Exact only if nothing else moved the balances (deposits,
    withdrawals, trades outside the daemon); a fee in a third asset is not undone."""
    base, quote = base_now, quote_now
    for f in fills:
        fee_base = f.fee if f.fee_asset == base_asset else ZERO
        fee_quote = f.fee if f.fee_asset == quote_asset else ZERO
        if f.side is Side.BUY:
            base -= f.qty - fee_base
            quote += f.quote_qty + fee_quote
        else:
            base += f.qty + fee_base
            quote -= f.quote_qty - fee_quote
    return base, quote
