"""What this process booked since it started, counted where it happens (one line each in the
ledger) and read by the metrics at scrape time: fills by side, fees by asset, orders by the
status they ended in. Plain counters: nothing here costs more than a dict update."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from daemon.domain.models import Fill
from daemon.domain.orders import Order, OrderState

# A status an order ends in. LOST (never confirmed by the venue) is one too; such an order is
# still watched, and a late fill that turns it FILLED counts it again under FILLED.
ENDED = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.PARTIALLY_CANCELED,
                   OrderState.REJECTED, OrderState.LOST})


@dataclass(slots=True)
class BookTally:
    fills: Counter[str] = field(default_factory=Counter)  # by side: BUY / SELL
    fees: dict[str, Decimal] = field(default_factory=dict)  # by asset
    orders_ended: Counter[str] = field(default_factory=Counter)  # by status

    def booked(self, fills: Iterable[Fill]) -> None:
        for fill in fills:
            self.fills[fill.side.value] += 1
            self.fees[fill.fee_asset] = self.fees.get(fill.fee_asset, Decimal(0)) + fill.fee

    def adopted(self, before: Order | None, order: Order) -> None:
        """``order`` replaces ``before`` (the same client id, or None): counted when it enters
        a status it ends in."""
        if order.status in ENDED and (before is None or before.status is not order.status):
            self.orders_ended[order.status.value] += 1
