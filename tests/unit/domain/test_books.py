"""The one booking rule (daemon.domain.books), shared by the ledger and the backtest: cost basis
per fill in time order, core floor raised by buys only, the order counted once at its first
booked fill at the booker's clock."""

from __future__ import annotations

from decimal import Decimal

from daemon.domain.books import TradeCounters, book_fills
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Fill, Side

D = Decimal
DAY_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
KW = {"core_pct": D("0.7"), "base_asset": "QRL", "quote_asset": "USDT"}


def fill(tid: str, side: Side, qty: str, px: str, t: int, fee: str = "0") -> Fill:
    return Fill(tid, "o1", "c1", side, D(px), D(qty), D(qty) * D(px), D(fee), "USDT", t)


def test_fills_of_one_order_are_applied_in_time_order_and_counted_once() -> None:
    later, earlier = fill("b", Side.BUY, "1000", "0.06", DAY_MS + 2), fill(
        "a", Side.BUY, "1000", "0.04", DAY_MS + 1, fee="0.1")
    booked = book_fills(CostBasis(), D(5000), TradeCounters(), [later, earlier],
                        first_fill_of_order=True, now_ms=DAY_MS + 10, **KW)
    assert booked.cost.avg_cost == D("0.05005") and booked.cost.qty == D(2000)
    assert booked.core_floor == D(5000) + D("0.7") * 2000
    assert booked.counters == TradeCounters("2023-11-15", 1, DAY_MS + 10, 1)
    again = book_fills(booked.cost, booked.core_floor, booked.counters,
                       [fill("c", Side.SELL, "500", "0.07", DAY_MS + 20)],
                       first_fill_of_order=False, now_ms=DAY_MS + 30, **KW)
    assert again.counters == booked.counters  # a later fill of the same order: no new trade
    assert again.core_floor == booked.core_floor  # a sell never lowers the floor
    assert again.cost.realized_pnl == (D("0.07") - D("0.05005")) * 500


def test_an_unset_core_floor_stays_unset() -> None:
    booked = book_fills(CostBasis(), None, TradeCounters(),
                        [fill("a", Side.BUY, "10", "1", DAY_MS)], first_fill_of_order=True,
                        now_ms=DAY_MS, **KW)
    assert booked.core_floor is None and booked.counters.trades_total == 1
