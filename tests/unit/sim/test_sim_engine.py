"""The matching engine against a synthesized book: partial fills (natural and on demand),
order types, fees, balances. Synchronous; time is passed in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.sim.engine import Engine, Level, OrderRequest, SimError, SymbolSpec
from daemon.sim.market import synth_book

D = Decimal
MID = D("0.05")
SPEC = SymbolSpec("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D("0.001"), D("0.0005"))


def _book(symbol: str) -> tuple[list[Level], list[Level]]:
    return synth_book(MID, levels=5, level_quote=D("100"), step_frac=D("0.001"),
                      price_decimals=5, qty_decimals=2)


def _engine(ratio: str | None = None, usdt: str = "10000") -> Engine:
    return Engine({"QRLUSDT": SPEC}, {"QRL": D(100000), "USDT": D(usdt)}, _book,
                  D(ratio) if ratio else None)


def _req(side: str, otype: str, qty: str | None = None, price: str | None = None,
         quote: str | None = None) -> OrderRequest:
    return OrderRequest("QRLUSDT", side, otype, D(qty) if qty else None,
                        D(quote) if quote else None, D(price) if price else None, None)


def test_book_is_finite_and_around_mid() -> None:
    bids, asks = _book("QRLUSDT")
    assert (bids[0][0], asks[0][0]) == (D("0.04997"), D("0.05002"))
    assert asks[0][1] == D("1999.2")  # ~100 USDT at the best level, more deeper down
    assert len(asks) == 5 and asks[4][1] > asks[0][1]


def test_large_limit_fills_partially_then_rests_and_fills_as_maker() -> None:
    e = _engine()
    _, asks = _book("QRLUSDT")
    limit = asks[1][0]  # crosses two levels
    order = e.place(_req("BUY", "LIMIT", "10000", str(limit)), 1000)
    taken = asks[0][1] + asks[1][1]
    assert order.status == "PARTIALLY_FILLED" and order.executed_qty == taken
    assert [t.price for t in e.trades] == [asks[0][0], asks[1][0]]
    assert all(not t.is_maker for t in e.trades)
    assert e.balances()["USDT"][1] == (D(10000) - taken) * limit  # the rest stays locked
    # the book refreshes each step; the market trades down through the limit
    e.new_step()
    e.step("QRLUSDT", 2000, low=limit - D("0.0001"), high=MID, elapsed_s=D(1))
    maker = e.trades[-1]
    assert maker.is_maker and maker.price == limit
    assert maker.commission == maker.qty * D("0.001")
    assert order.executed_qty == taken + maker.qty
    for t in range(3, 400):
        e.new_step()
        e.step("QRLUSDT", t * 1000, low=limit, high=limit, elapsed_s=D(1))
    assert order.status == "FILLED" and order.executed_qty == D(10000)
    assert e.balances()["USDT"][1] == 0
    spent = sum(t.quote_qty for t in e.trades)
    fees = sum(t.commission for t in e.trades)
    assert e.balances()["USDT"][0] == D(10000) - spent
    assert e.balances()["QRL"] == (D(100000) + D(10000) - fees, D(0))


def test_price_not_crossed_does_not_fill() -> None:
    e = _engine()
    order = e.place(_req("BUY", "LIMIT", "1000", "0.049"), 0)
    e.new_step()
    e.step("QRLUSDT", 1000, low=D("0.04901"), high=D("0.051"), elapsed_s=D(5))
    assert order.status == "NEW" and not e.trades


def test_partial_fill_ratio_caps_each_step() -> None:
    e = _engine(ratio="0.4")
    order = e.place(_req("BUY", "LIMIT", "1000", "0.06"), 0)
    assert order.executed_qty == D(400) and order.status == "PARTIALLY_FILLED"
    e.new_step()
    e.step("QRLUSDT", 1000, low=D("0.05"), high=D("0.05"), elapsed_s=D(1))
    assert order.executed_qty == D(640)  # 400 + 40% of 600
    for t in range(2, 40):
        e.new_step()
        e.step("QRLUSDT", t * 1000, low=D("0.05"), high=D("0.05"), elapsed_s=D(1))
    assert order.status == "FILLED" and order.executed_qty == D(1000)


def test_ioc_fok_and_limit_maker() -> None:
    e = _engine()
    _, asks = _book("QRLUSDT")
    ioc = e.place(_req("BUY", "IMMEDIATE_OR_CANCEL", "5000", str(asks[0][0])), 0)
    assert ioc.status == "PARTIALLY_CANCELED" and ioc.executed_qty == asks[0][1]
    assert e.balances()["USDT"][1] == 0
    e.new_step()
    fok = e.place(_req("BUY", "FILL_OR_KILL", "5000", str(asks[0][0])), 0)
    assert fok.status == "CANCELED" and fok.executed_qty == 0
    fok2 = e.place(_req("BUY", "FILL_OR_KILL", "2500", str(asks[1][0])), 0)
    assert fok2.status == "FILLED"
    maker_cross = e.place(_req("SELL", "LIMIT_MAKER", "100", str(_book("")[0][0][0])), 0)
    assert maker_cross.status == "CANCELED"
    maker_rest = e.place(_req("SELL", "LIMIT_MAKER", "100", "0.051"), 0)
    assert maker_rest.status == "NEW" and e.balances()["QRL"][1] == D(100)


def test_market_orders_by_quantity_and_quote_and_insufficient_funds() -> None:
    e = _engine(usdt="50")
    with pytest.raises(SimError) as err:
        e.place(_req("BUY", "MARKET", qty="2000"), 0)  # costs ~100 USDT
    assert err.value.code == 30004 and e.balances()["USDT"] == (D(50), D(0))
    with pytest.raises(SimError) as err:
        e.place(_req("SELL", "MARKET", qty="200000"), 0)
    assert err.value.code == 30005
    sell = e.place(_req("SELL", "MARKET", quote="20"), 0)
    assert sell.status == "FILLED"
    assert D(20) - sell.cum_quote < D("0.0005")  # less than one 0.01 QRL step left
    fee = sum(t.commission for t in e.trades)
    assert e.trades[0].commission_asset == "USDT"
    assert e.balances()["USDT"] == (D(50) + sell.cum_quote - fee, D(0))
    buy = e.place(_req("BUY", "MARKET", qty="500"), 0)
    assert buy.status == "FILLED" and buy.executed_qty == D(500)


def test_events_describe_every_change() -> None:
    e = _engine()
    e.place(_req("BUY", "LIMIT", "100", "0.06"), 7)
    kinds = [type(ev).__name__ for ev in e.drain_events()]
    assert kinds == ["AccountEvent", "OrderEvent", "AccountEvent", "AccountEvent",
                     "DealEvent", "OrderEvent"]
    assert e.drain_events() == []


def test_an_order_only_sees_the_market_after_its_placement() -> None:
    e = _engine()
    order = e.place(_req("BUY", "LIMIT", "1000", "0.049"), 5000)
    since: list[int] = []

    def range_since(t: int) -> tuple[Decimal, Decimal]:
        since.append(t)
        return D("0.0495"), D("0.05")  # after placement the market stayed above the limit

    e.new_step()
    e.step("QRLUSDT", 6000, low=D("0.048"), high=D("0.05"), elapsed_s=D(6), start_ms=0,
           range_since=range_since)
    assert since == [5000] and order.status == "NEW"
    e.new_step()
    e.step("QRLUSDT", 7000, low=D("0.0489"), high=D("0.05"), elapsed_s=D(1), start_ms=6000,
           range_since=range_since)
    assert order.status == "FILLED" and since == [5000]
