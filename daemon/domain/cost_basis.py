"""Moving weighted average cost basis with realized/unrealized PnL, and the core floor rules
(STRATEGY.md "Cost basis and PnL" and "Core floor"). Pure: fills in, new values out.

Aggregates only: a :class:`CostBasis` holds the figures and the number of fills applied, never
the trade ids (which grew with every fill: the books dedup fills by trade id where they are
stored, see ``daemon.adapters.redis_archive``). :meth:`CostBasis.apply` applies what it is
given; :meth:`CostBasis.apply_all` skips a trade id repeated within its own input, so callers
may feed it overlapping fill lists (REST history + websocket deals) of one rebuild.

Per fill, with ``Q`` the base quantity the cost basis covers:

* BUY, fee in quote: ``avg = (avg*Q + qty*px + fee) / (Q + qty)``; ``Q += qty``
* BUY, fee in base:  ``avg = (avg*Q + qty*px) / (Q + qty - fee)``; ``Q += qty - fee``
* SELL: ``avg`` unchanged; ``realized += (px - avg)*qty - fee_in_quote``; ``Q -= qty``
  (fee in base: ``Q -= qty + fee``)
* fee in a third asset: converted to quote with ``fee_prices[asset]`` (quote per unit) when
  given, else added to ``fees_other`` and otherwise ignored (the caller logs it).

Edge rules (not in STRATEGY.md, chosen here): an unknown ``avg`` counts as 0 on a BUY while
``Q`` is 0 (the first buy sets it); a SELL with unknown ``avg`` leaves ``realized`` unchanged;
``Q`` never goes below 0 (a sell of holdings the basis never covered); a BUY whose base fee
leaves no quantity changes nothing but ``Q``'s floor at 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import NamedTuple

from daemon.domain.fields import FieldReader, Leniency
from daemon.domain.models import Fill, Side
from daemon.domain.money import ZERO, fmt
from daemon.errors import StateError

PRECISION_DIGITS = 50
SCHEMA_VERSION = 2  # 1 carried every applied trade id: read, ids dropped
READS = (1, SCHEMA_VERSION)
_STORED = FieldReader(StateError, Leniency.STORED)  # "cost basis.<field>: ..." errors


def _fees_add(
    fees: tuple[tuple[str, Decimal], ...], asset: str, amount: Decimal
) -> tuple[tuple[str, Decimal], ...]:
    totals = dict(fees)
    totals[asset] = totals.get(asset, ZERO) + amount
    return tuple(sorted(totals.items()))


@dataclass(frozen=True, slots=True)
class CostBasis:
    """Average cost per base unit (None: unknown), the base quantity it covers, realized PnL in
    quote, unconverted third-asset fees (asset, total) and the number of fills applied."""

    avg_cost: Decimal | None = None
    qty: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_other: tuple[tuple[str, Decimal], ...] = ()
    fills: int = 0

    @classmethod
    def initial(cls, avg_cost: Decimal | None, qty: Decimal) -> CostBasis:
        """A basis covering ``qty`` base units bought at ``avg_cost`` (e.g. from config
        ``strategy.initial_cost_basis`` and the current holdings)."""
        if avg_cost is not None and avg_cost <= 0:
            raise ValueError(f"avg_cost must be positive, got {avg_cost}")
        if qty < 0:
            raise ValueError(f"qty must be >= 0, got {qty}")
        return cls(avg_cost=avg_cost, qty=qty)

    def apply(
        self, fill: Fill, *, base_asset: str, quote_asset: str,
        fee_prices: Mapping[str, Decimal] | None = None,
    ) -> CostBasis:
        """The basis after ``fill`` (the caller books a trade id once)."""
        if fill.qty <= 0 or fill.price <= 0 or fill.fee < 0:
            raise ValueError(
                f"fill {fill.trade_id}: qty ({fill.qty}) and price ({fill.price}) must be "
                f"positive and fee ({fill.fee}) not negative"
            )
        with localcontext() as ctx:
            ctx.prec = PRECISION_DIGITS
            fee_quote, fee_base, fees_other = self._split_fee(
                fill, base_asset, quote_asset, fee_prices or {}
            )
            if fill.side is Side.BUY:
                avg, qty, realized = self._buy(fill, fee_quote, fee_base)
            else:
                avg, qty, realized = self._sell(fill, fee_quote, fee_base)
        return CostBasis(avg, qty, realized, fees_other, self.fills + 1)

    def _split_fee(
        self, fill: Fill, base_asset: str, quote_asset: str, fee_prices: Mapping[str, Decimal]
    ) -> tuple[Decimal, Decimal, tuple[tuple[str, Decimal], ...]]:
        asset = fill.fee_asset.upper()
        if fill.fee == 0:
            return ZERO, ZERO, self.fees_other
        if asset == quote_asset.upper():
            return fill.fee, ZERO, self.fees_other
        if asset == base_asset.upper():
            return ZERO, fill.fee, self.fees_other
        price = fee_prices.get(asset, fee_prices.get(fill.fee_asset))
        if price is not None:
            return fill.fee * price, ZERO, self.fees_other
        return ZERO, ZERO, _fees_add(self.fees_other, asset, fill.fee)

    def _buy(
        self, fill: Fill, fee_quote: Decimal, fee_base: Decimal
    ) -> tuple[Decimal | None, Decimal, Decimal]:
        held_cost = (self.avg_cost or ZERO) * self.qty
        new_qty = self.qty + fill.qty - fee_base
        if new_qty <= 0:
            return self.avg_cost, ZERO, self.realized_pnl
        avg = (held_cost + fill.qty * fill.price + fee_quote) / new_qty
        return avg, new_qty, self.realized_pnl

    def _sell(
        self, fill: Fill, fee_quote: Decimal, fee_base: Decimal
    ) -> tuple[Decimal | None, Decimal, Decimal]:
        realized = self.realized_pnl
        if self.avg_cost is not None:
            realized += (fill.price - self.avg_cost) * fill.qty - fee_quote
        new_qty = max(ZERO, self.qty - fill.qty - fee_base)
        return self.avg_cost, new_qty, realized

    def apply_all(
        self, fills: Iterable[Fill], *, base_asset: str, quote_asset: str,
        fee_prices: Mapping[str, Decimal] | None = None,
    ) -> CostBasis:
        """Apply ``fills`` in the order given (callers sort by time), each trade id once."""
        basis, seen = self, set()
        for f in fills:
            if f.trade_id in seen:
                continue
            seen.add(f.trade_id)
            basis = basis.apply(f, base_asset=base_asset, quote_asset=quote_asset,
                                fee_prices=fee_prices)
        return basis

    def unrealized(self, price: Decimal) -> Decimal | None:
        """(price - avg) * Q, None while the average is unknown."""
        if self.avg_cost is None:
            return None
        with localcontext() as ctx:
            ctx.prec = PRECISION_DIGITS
            return (price - self.avg_cost) * self.qty

    def with_avg_cost(self, avg_cost: Decimal | None) -> CostBasis:
        """Operator override of the average (the covered quantity stays)."""
        return replace(self, avg_cost=avg_cost)

    def to_dict(self) -> dict[str, object]:
        """JSON-able (decimals as exact strings), for Redis."""
        return {
            "v": SCHEMA_VERSION,
            "avg_cost": None if self.avg_cost is None else _exact(self.avg_cost),
            "qty": _exact(self.qty),
            "realized_pnl": _exact(self.realized_pnl),
            "fees_other": {asset: _exact(amount) for asset, amount in self.fees_other},
            "fills": self.fills,
        }

    @classmethod
    def from_dict(cls, data: object) -> CostBasis:
        """Inverse of :meth:`to_dict` (schema 1 too: its trade ids count the fills applied);
        StateError naming the field on corrupt input."""
        f = _STORED.fields(data, "cost basis")
        if f.get("v") not in READS:
            raise StateError(f"cost basis.v: unknown schema version {f.get('v')!r}")
        avg = _STORED.opt_decimal(f.raw("avg_cost"), f.name("avg_cost"), positive=True)
        qty = f.decimal("qty", minimum=ZERO)
        realized = f.decimal("realized_pnl")
        fees_raw = _STORED.fields(f.get("fees_other", {}), f.name("fees_other"))
        fees = tuple(sorted((str(asset), fees_raw.decimal(str(asset))) for asset in fees_raw.data))
        return cls(avg, qty, realized, fees, _fill_count(f.get("v"), f.get("trade_ids", []),
                                                         f.get("fills", 0)))


def _fill_count(version: object, ids: object, count: object) -> int:
    if version == 1:
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise StateError("cost basis.trade_ids: expected a list of strings")
        return len(set(ids))
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise StateError(f"cost basis.fills: expected a count >= 0, got {count!r}")
    return count


def _exact(value: Decimal) -> str:
    """fmt() without its rounding to the context precision (normalize() rounds)."""
    with localcontext() as ctx:
        ctx.prec = max(PRECISION_DIGITS, len(value.as_tuple().digits))
        return fmt(value)


# --- core floor ------------------------------------------------------------------------------


def initial_core_floor(base_total: Decimal, core_pct: Decimal) -> Decimal:
    """The core floor set when it is first unset: ``core_pct * q`` (q = free + locked base)."""
    return core_pct * base_total


class Core(NamedTuple):
    """The core floor (base never sold; None: unset) and its credit (base sold and not bought
    back yet), STRATEGY.md v2."""

    floor: Decimal | None
    credit: Decimal = Decimal(0)


def next_core(core: Core, fill: Fill, core_pct: Decimal, base_asset: str) -> Core:
    """The core after ``fill`` (STRATEGY.md v2, net base quantity ``n``: the filled quantity
    less a fee paid in base). SELL: the floor is unchanged, ``credit += n``. BUY: ``used =
    min(credit, n)``, ``credit -= used``, ``floor += core_pct * (n - used)``. So the floor
    never falls, and a sell followed by its buy-back leaves floor and credit where they were
    (v1 raised the floor on every buy: round trips ratcheted the tradeable share to zero).
    An unset floor stays unset with no credit (the next evaluation initialises it from the
    holdings, which already include this fill)."""
    if core.floor is None:
        return core
    n = fill.qty - (fill.fee if fill.fee_asset == base_asset else Decimal(0))
    if n <= 0:
        return core
    if fill.side is Side.SELL:
        return Core(core.floor, core.credit + n)
    used = min(core.credit, n)
    return Core(core.floor + core_pct * (n - used), core.credit - used)
