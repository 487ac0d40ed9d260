"""What the operator is told, and when (pure: time is passed in, nothing is sent here).

- ``DriftWatch``: a drift alert once per episode, when |drift| has stayed above the limit for
  ``after_s``; a "back within" message when it comes back (only after an alert).
- ``HaltWatch``: halted / resumed on a change of the halt flag (a daemon that starts halted
  says so once).
- ``summary_due``: the daily summary time of the UTC day, once per day.
- The texts of a finished order, a drift alert and the daily summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from daemon.domain.models import ExchangeRules, Fill, Side
from daemon.domain.money import floor_to, fmt
from daemon.domain.orders import Order

HUNDRED = Decimal(100)
DAY_MS = 86_400_000


def _pts(fraction: Decimal) -> str:
    return f"{fraction * HUNDRED:.2f}"


@dataclass
class DriftWatch:
    """Feed it every plan's drift; it answers ``"alert"``, ``"back"`` or None."""

    over_since_ms: int | None = None
    alerted: bool = False

    def observe(self, drift: Decimal | None, now_ms: int, limit: Decimal,
                after_s: float) -> str | None:
        if drift is None:  # unknown (no balances or price): says nothing, changes nothing
            return None
        if abs(drift) <= limit:
            self.over_since_ms = None
            if self.alerted:
                self.alerted = False
                return "back"
            return None
        if self.over_since_ms is None:
            self.over_since_ms = now_ms
        if not self.alerted and now_ms - self.over_since_ms >= after_s * 1000:
            self.alerted = True
            return "alert"
        return None


def drift_text(kind: str, drift: Decimal, limit: Decimal, over_for_s: float) -> tuple[str, str]:
    """(title, body) of a drift alert or of its end."""
    if kind == "alert":
        return ("drift alert", f"drift {drift * HUNDRED:+.2f} pts has been beyond "
                f"±{_pts(limit)} pts for {over_for_s:.0f}s")
    return ("drift back within limit", f"drift {drift * HUNDRED:+.2f} pts is back within "
            f"±{_pts(limit)} pts")


@dataclass
class HaltWatch:
    """Feed it the halt flag each time it is read; it answers ``"halted"``, ``"resumed"``
    or None."""

    halted: bool | None = None  # None: not read yet

    def observe(self, halted: bool) -> str | None:
        before, self.halted = self.halted, halted
        if halted and before is not True:
            return "halted"
        if not halted and before is True:
            return "resumed"
        return None


def order_text(order: Order, rules: ExchangeRules) -> tuple[str, str]:
    """(title, body) for a finished order: side, filled quantity, average price, fills, fees."""
    filled = floor_to(order.filled_qty, rules.base_precision)
    avg = order.avg_px
    avg_text = "-" if avg is None else fmt(floor_to(avg, rules.quote_precision))
    fees = ", ".join(f"{fmt(v)} {asset}" for asset, v in sorted(order.fees.items())) or "none"
    title = f"{rules.symbol} {order.side.value} {order.status.value}"
    body = (f"{order.side.value} {fmt(filled)} of {fmt(order.qty)} {rules.base_asset} at avg "
            f"{avg_text} {rules.quote_asset} ({len(order.fills)} fill(s), fees {fees}); "
            f"order {order.client_order_id}{f' [{order.tag}]' if order.tag else ''}")
    return title, body


def summary_due(hhmm: str, now_ms: int, last_day: str | None) -> str | None:
    """The UTC date (YYYY-MM-DD) whose summary is due now, or None (already sent today, or
    not time yet)."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    hour, minute = (int(x) for x in hhmm.split(":"))
    today = now.strftime("%Y-%m-%d")
    if today == last_day or (now.hour, now.minute) < (hour, minute):
        return None
    return today


@dataclass(frozen=True, slots=True)
class DayFigures:
    """What the daily summary says. ``value`` and the PnL figures are None when unknown."""

    value: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    fills: tuple[Fill, ...]  # the fills of the 24 hours the summary covers


def summary_text(figures: DayFigures, rules: ExchangeRules, end_ms: int) -> tuple[str, str]:
    """(title, body) of the daily summary of the 24 hours before ``end_ms``."""
    body = (f"{_since(end_ms)}: value {_money(figures.value, rules)}; realized PnL "
            f"{_money(figures.realized_pnl, rules)}, unrealized "
            f"{_money(figures.unrealized_pnl, rules)}; "
            f"{_fills_text(figures.fills, rules.base_asset)}")
    return f"{rules.symbol} daily summary", body


@dataclass(frozen=True, slots=True)
class AssetDay:
    """One asset of a basket in its daily summary: its pair's rules, its fills of the day."""

    rules: ExchangeRules
    fills: tuple[Fill, ...]


@dataclass(frozen=True, slots=True)
class BasketDayFigures:
    """What a basket's daily summary says: the portfolio's total value and PnL (None when
    unknown), each asset's fills. ``name`` names the basket in the title."""

    name: str
    value: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    assets: tuple[AssetDay, ...]


def basket_summary_text(figures: BasketDayFigures, end_ms: int) -> tuple[str, str]:
    """(title, body) of a basket's daily summary: the totals on the first line (at the finest
    quote precision of its pairs), then one line per asset."""
    rules = max((a.rules for a in figures.assets), key=lambda r: r.quote_precision)
    lines = [f"{_since(end_ms)}: value {_money(figures.value, rules)}; realized PnL "
             f"{_money(figures.realized_pnl, rules)}, unrealized "
             f"{_money(figures.unrealized_pnl, rules)}"]
    lines += [f"{a.rules.base_asset}: {_fills_text(a.fills, a.rules.base_asset)}"
              for a in figures.assets]
    return f"{figures.name} daily summary", "\n".join(lines)


def _since(end_ms: int) -> str:
    start = datetime.fromtimestamp((end_ms - DAY_MS) / 1000, UTC)
    return f"since {start:%Y-%m-%d %H:%M} UTC"


def _money(value: Decimal | None, rules: ExchangeRules) -> str:
    if value is None:
        return "unknown"
    return f"{fmt(floor_to(value, rules.quote_precision))} {rules.quote_asset}"


def _fills_text(fills: tuple[Fill, ...], base_asset: str) -> str:
    bought = sum((f.qty for f in fills if f.side is Side.BUY), Decimal(0))
    sold = sum((f.qty for f in fills if f.side is Side.SELL), Decimal(0))
    orders = len({f.order_id for f in fills})
    return (f"{orders} order(s), {len(fills)} fill(s): bought {fmt(bought)}, sold "
            f"{fmt(sold)} {base_asset}; fees {_fee_totals(fills)}")


def _fee_totals(fills: Iterable[Fill]) -> str:
    totals: dict[str, Decimal] = {}
    for f in fills:
        totals[f.fee_asset] = totals.get(f.fee_asset, Decimal(0)) + f.fee
    return ", ".join(f"{fmt(v)} {a}" for a, v in sorted(totals.items())) or "none"


def day_window(end_ms: int) -> tuple[int, int]:
    """[start, end) of the 24 hours a summary sent at ``end_ms`` covers."""
    return end_ms - DAY_MS, end_ms


def minute_floor_ms(now_ms: int) -> int:
    """``now_ms`` at the start of its minute (a summary covers whole minutes)."""
    return now_ms - now_ms % 60_000
