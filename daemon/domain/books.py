"""The booking rule: what the books become when fills of one order are booked. Pure.

ONE rule for the daemon's ledger (``daemon.runtime.ledger.Ledger``, which writes the result to
Redis atomically) and the backtest (``daemon.backtest.runner``, which keeps it in memory): the
cost basis applies each new fill (STRATEGY.md "Cost basis and PnL"), the core floor follows it
(``next_core_floor``), and the trade counters count the ORDER once, at its first booked fill,
at the booker's own clock ``now_ms`` (the one the cooldown and daily limit are checked with).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from daemon.domain.cost_basis import CostBasis, next_core_floor
from daemon.domain.models import Fill

DAY_MS = 86_400_000


@functools.lru_cache(maxsize=64)
def _day_text(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()


def utc_day(time_ms: int) -> str:
    """The UTC date of ``time_ms`` (ISO); cached per day (a replay asks once per decision)."""
    return _day_text(time_ms // DAY_MS)


@dataclass(frozen=True, slots=True)
class TradeCounters:
    """Trades per UTC day (the day is stored with its count) and the last trade time."""

    day: str = ""
    trades_today: int = 0
    last_trade_ms: int | None = None
    trades_total: int = 0

    def trades_on(self, now_ms: int) -> int:
        """Trades counted on the UTC day of ``now_ms`` (0 once the day has rolled over)."""
        return self.trades_today if self.day == utc_day(now_ms) else 0

    def after_trade(self, time_ms: int) -> TradeCounters:
        """Counters after one more trade at ``time_ms`` (a late trade of an earlier day only
        adds to the total)."""
        day = utc_day(time_ms)
        last = time_ms if self.last_trade_ms is None else max(self.last_trade_ms, time_ms)
        if day == self.day:
            today, d = self.trades_today + 1, day
        elif day > self.day:
            today, d = 1, day
        else:
            today, d = self.trades_today, self.day
        return TradeCounters(d, today, last, self.trades_total + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "trades_today": self.trades_today,
                "last_trade_ms": self.last_trade_ms, "trades_total": self.trades_total}


class Booked(NamedTuple):
    """The books after a booking."""

    cost: CostBasis
    core_floor: Decimal | None
    counters: TradeCounters


def book_fills(cost: CostBasis, core_floor: Decimal | None, counters: TradeCounters,
               new: Iterable[Fill], *, first_fill_of_order: bool, now_ms: int,
               core_pct: Decimal, base_asset: str, quote_asset: str) -> Booked:
    """The books after booking ``new`` (fills of ONE order not booked before), in time order.
    ``first_fill_of_order``: none of the order's fills was booked before, so the order counts
    as one more trade at ``now_ms``."""
    for fill in sorted(new, key=lambda f: (f.time_ms, f.trade_id)):
        cost = cost.apply(fill, base_asset=base_asset, quote_asset=quote_asset)
        core_floor = next_core_floor(core_floor, fill, core_pct)
    if first_fill_of_order:
        counters = counters.after_trade(now_ms)
    return Booked(cost, core_floor, counters)
