"""PnL per UTC period from fills: the running realized PnL of CostBasis split by period, and
the holdings before the first fill (the balances now with every fill undone)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from daemon.domain.models import Fill, Side
from daemon.domain.pnl import holdings_before, period_of, pnl_by_period

DAY = 86_400_000
T0 = 1_764_547_200_000  # 2025-12-01 00:00 UTC, a Monday


def fill(tid: str, side: Side, qty: str, price: str, fee: str, t: int, asset: str = "USDT",
         order: str = "o1") -> Fill:
    q, p = D(qty), D(price)
    return Fill(tid, order, "rb-x-0", side, p, q, q * p, D(fee), asset, t)


@pytest.mark.parametrize(("t", "period", "want"), [
    (T0, "day", "2025-12-01"), (T0 + DAY - 1, "day", "2025-12-01"),
    (T0 + 6 * DAY, "week", "2025-12-01"), (T0 + 7 * DAY, "week", "2025-12-08"),
])
def test_period_of(t: int, period: str, want: str) -> None:
    assert period_of(t, period) == want


def test_realized_is_split_by_day_and_sums_to_the_cost_basis() -> None:
    fills = [fill("1", Side.BUY, "100", "1", "0.1", T0),
             fill("2", Side.SELL, "50", "1.2", "0.06", T0 + DAY, order="o2"),
             fill("3", Side.SELL, "50", "0.9", "0.045", T0 + DAY + 5, order="o3")]
    report = pnl_by_period(fills, "day", base_asset="QRL", quote_asset="USDT")
    avg = D("100.1") / 100
    day2 = (D("1.2") - avg) * 50 - D("0.06") + (D("0.9") - avg) * 50 - D("0.045")
    assert [(r.period, r.realized, r.fills, r.orders) for r in report.periods] == [
        ("2025-12-01", D(0), 1, 1), ("2025-12-02", day2, 2, 2)]
    assert report.cost.realized_pnl == day2
    assert report.periods[1].fees == {"USDT": D("0.105")}
    assert report.periods[1].turnover == D("105")


def test_holdings_before_undoes_every_fill() -> None:
    fills = [fill("1", Side.BUY, "100", "1", "1", T0, asset="QRL"),  # 99 QRL received
             fill("2", Side.SELL, "10", "2", "0.02", T0 + 1)]
    base_now, quote_now = D(89), D(1000) - 100 + 20 - D("0.02")
    assert holdings_before(fills, base_now, quote_now, base_asset="QRL",
                           quote_asset="USDT") == (D(0), D(1000))
