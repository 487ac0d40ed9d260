"""The books rebuilt from the exchange's records (daemon.domain.rebuild): which orders and
fills are ours, the cost basis over our fills on top of an initial basis, the core floor
estimate, the first-fill trade times, the closed-order cap, and what is reported."""

from __future__ import annotations

from decimal import Decimal

from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Fill, OrderReport, OrderStatus, Side
from daemon.domain.orders import OrderState
from daemon.domain.rebuild import RebuildInput, net_base, our_reports, rebuild_books

D = Decimal


def report(oid: str, coid: str | None, side: Side, qty: str, executed: str, status: OrderStatus,
           time_ms: int, price: str = "0.05") -> OrderReport:
    return OrderReport(order_id=oid, client_order_id=coid, symbol="QRLUSDT", side=side,
                       order_type="LIMIT", status=status, price=D(price), orig_qty=D(qty),
                       executed_qty=D(executed), cum_quote_qty=D(executed) * D(price),
                       time_ms=time_ms, update_time_ms=time_ms + 10)


def fill(tid: str, oid: str, side: Side, qty: str, price: str, time_ms: int, *,
         fee: str = "0", fee_asset: str = "USDT", coid: str | None = None) -> Fill:
    return Fill(trade_id=tid, order_id=oid, client_order_id=coid, side=side, price=D(price),
                qty=D(qty), quote_qty=D(qty) * D(price), fee=D(fee), fee_asset=fee_asset,
                time_ms=time_ms)


def data(reports: list[OrderReport], trades: list[Fill], **kw: object) -> RebuildInput:
    base: dict[str, object] = {
        "reports": {r.order_id: r for r in reports}, "trades": trades, "prefix": "rb",
        "base_asset": "QRL", "quote_asset": "USDT", "base_total": D("10000"),
        "initial_cost": None, "core_pct": D("0.7"), "recent_orders_max": 500,
        "now_ms": 10_000_000}
    base.update(kw)
    return RebuildInput(**base)  # type: ignore[arg-type]


BUY_A = report("A", "rb-aaa-0", Side.BUY, "1000", "1000", OrderStatus.FILLED, 1_000)
SELL_B = report("B", "rb-bbb-0", Side.SELL, "500", "500", OrderStatus.FILLED, 2_000)
OPEN_C = report("C", "rb-ccc-0", Side.BUY, "300", "100", OrderStatus.PARTIALLY_FILLED, 3_000)
MANUAL = report("M", "web_1", Side.BUY, "50", "50", OrderStatus.FILLED, 1_500)
TRADES = [
    fill("t1", "A", Side.BUY, "600", "0.05", 1_100, fee="0.6", fee_asset="QRL"),
    fill("t2", "A", Side.BUY, "400", "0.05", 1_100, fee="0.4", fee_asset="QRL"),
    fill("m1", "M", Side.BUY, "50", "0.04", 1_600),
    fill("t3", "B", Side.SELL, "500", "0.06", 2_100, fee="0.015"),
    fill("t4", "C", Side.BUY, "100", "0.05", 3_100, fee="0.1", fee_asset="QRL"),
]


def test_orders_fills_and_cost_basis_are_ours_only() -> None:
    books = rebuild_books(data([BUY_A, SELL_B, OPEN_C, MANUAL], TRADES))
    assert [o.client_order_id for o in books.open_orders] == ["rb-ccc-0"]
    assert books.open_orders[0].status is OrderState.PARTIALLY_FILLED
    assert [o.client_order_id for o in books.closed_orders] == ["rb-bbb-0", "rb-aaa-0"]
    assert [f.trade_id for f in books.fills] == ["t1", "t2", "t3", "t4"]
    ours = [f for f in TRADES if f.order_id != "M"]
    expected = CostBasis().apply_all(ours, base_asset="QRL", quote_asset="USDT")
    assert books.cost == expected
    assert books.cost.fills == 4 and {f.trade_id for f in books.fills} == {"t1", "t2", "t3", "t4"}
    assert (books.foreign_trades, books.foreign_net_base) == (1, D("50"))
    # held now 10000 = before + (600-0.6) + (400-0.4) - 500 + (100-0.1)
    assert books.base_before == D("10000") - D("599.4") - D("399.6") + D("500") - D("99.9")
    assert books.trade_times_ms == (1_100, 2_100, 3_100)  # first fill of each order


def test_initial_cost_basis_covers_the_base_held_before_the_first_fill() -> None:
    books = rebuild_books(data([BUY_A, SELL_B, OPEN_C], TRADES[:2] + TRADES[3:],
                               initial_cost=D("0.04")))
    start = CostBasis.initial(D("0.04"), books.base_before)
    expected = start.apply_all([TRADES[0], TRADES[1], TRADES[3], TRADES[4]], base_asset="QRL",
                               quote_asset="USDT")
    assert books.cost == expected
    at_sell = start.apply_all(TRADES[:2], base_asset="QRL", quote_asset="USDT").avg_cost
    assert at_sell is not None and at_sell < D("0.05")  # the initial 0.04 counts
    assert abs(books.cost.realized_pnl - ((D("0.06") - at_sell) * 500 - D("0.015"))) < D("1e-20")


def test_core_floor_estimate_starts_at_core_pct_of_the_base_before_and_rises_on_buys() -> None:
    """STRATEGY.md v2 per fill (net of a fee in base): t1 and t2 raise the floor by 0.7 x
    (599.4 + 399.6); the SELL of 500 is credit; t4's 99.9 is bought back out of that credit
    (the floor stays, the credit falls to 400.1)."""
    books = rebuild_books(data([BUY_A, SELL_B, OPEN_C], TRADES))
    assert books.core_floor == D("0.7") * books.base_before + D("0.7") * D("999")
    assert books.core_credit == D("400.1")


def test_closed_orders_are_capped_newest_first_and_their_fills_still_booked() -> None:
    books = rebuild_books(data([BUY_A, SELL_B, OPEN_C], TRADES, recent_orders_max=1))
    assert [o.client_order_id for o in books.closed_orders] == ["rb-bbb-0"]
    assert books.closed_dropped == 1
    assert {f.trade_id for f in books.fills} == {"t1", "t2", "t3", "t4"}


def test_a_trade_naming_our_client_id_without_its_order_is_booked_and_reported() -> None:
    orphan = fill("t9", "Z", Side.BUY, "10", "0.05", 5_000, coid="rb-zzz-0")
    books = rebuild_books(data([], [orphan]))
    assert [f.trade_id for f in books.fills] == ["t9"]
    assert books.orders == ()
    assert any("t9" not in n and "rb-zzz-0" in n for n in books.notes)


def test_a_closed_order_whose_older_trades_are_gone_is_not_stored() -> None:
    # the exchange says 1000 executed, only 400 of its trades are within myTrades' month
    books = rebuild_books(data([BUY_A], [TRADES[1]]))
    assert books.orders == ()
    assert [f.trade_id for f in books.fills] == ["t2"]
    assert any("rb-aaa-0" in n and "not stored" in n for n in books.notes)


def test_base_below_zero_is_reported_and_counted_as_zero() -> None:
    books = rebuild_books(data([BUY_A], TRADES[:2], base_total=D("100")))
    assert books.base_before == 0
    assert any("below 0" in n for n in books.notes)


def test_our_reports_newest_first_and_net_base() -> None:
    assert [r.order_id for r in our_reports([BUY_A, MANUAL, SELL_B], "rb")] == ["B", "A"]
    assert net_base(TRADES[0], "QRL") == D("599.4")
    assert net_base(TRADES[3], "QRL") == D("-500")
