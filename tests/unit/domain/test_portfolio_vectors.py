"""STRATEGY.md v3 vectors P1-P4 through the portfolio planner (symmetric unless said; QRL at
0.05 with 8 decimals, BTC at 100000 with 6; threshold 0.01, min_notional 5, fees 0, free =
total, no limits, max_drift null): the sells first, then the buys sized from the quote free."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from daemon.domain.models import Balance, Trend
from daemon.domain.portfolio import (
    LegInput,
    PortfolioPlan,
    PortfolioSnapshot,
    evaluate_portfolio,
    size_buy_legs,
)
from tests.support.domain_builders import leg_snap, risk, strategy

D = Decimal


def basket(q_qrl: str, q_btc: str, u: str, w_qrl: str, w_btc: str, *, fee: str = "0",
           qrl: dict[str, Any] | None = None, btc: dict[str, Any] | None = None,
           ) -> PortfolioSnapshot:
    return PortfolioSnapshot(
        quote=Balance("USDT", D(u), D(0)),
        legs=(
            LegInput("QRL", D(w_qrl), leg_snap("QRL", q_qrl, "0.05", taker_fee=D(fee),
                                               **(qrl or {}))),
            LegInput("BTC", D(w_btc), leg_snap("BTC", q_btc, "100000", base_precision=6,
                                               taker_fee=D(fee), **(btc or {}))),
        ),
    )


def decisions(plan: PortfolioPlan) -> dict[str, tuple[str, Decimal, str, bool]]:
    return {leg.asset: (leg.plan.action, leg.plan.quantity, leg.plan.reason_code, leg.pending)
            for leg in plan.legs}


def test_p1_sell_then_buy_sized_from_the_free_quote_after_the_sell() -> None:
    ps = basket("10000", "0", "1000", "0.25", "0.25")
    st, rk = strategy("symmetric"), risk()
    plan = evaluate_portfolio(ps, st, rk)
    assert plan.total_value == D(1500)
    assert decisions(plan) == {
        "QRL": ("SELL", D(2500), "rebalance_sell", False),
        "BTC": ("BUY", D("0.00375"), "rebalance_buy", True),  # waits for the sell
    }
    assert plan.buys_pending
    # the sell fills at 0.05 without fee: 1000 + 125 USDT free
    after = size_buy_legs(ps, plan, st, rk, quote_free=D(1125))
    assert decisions(after) == {
        "QRL": ("SELL", D(2500), "rebalance_sell", False),
        "BTC": ("BUY", D("0.003750"), "rebalance_buy", False),
    }
    assert not after.buys_pending


def test_p2_the_buy_is_sized_from_the_quote_the_sell_left_after_its_fee() -> None:
    ps = basket("20000", "0", "0", "0.5", "0.5", fee="0.001")
    st, rk = strategy("symmetric"), risk()
    plan = evaluate_portfolio(ps, st, rk)
    assert decisions(plan)["QRL"] == ("SELL", D(10000), "rebalance_sell", False)
    assert decisions(plan)["BTC"][0::3] == ("BUY", True)  # pending, nothing is free yet
    # SELL 10000 at 0.05 = 500 USDT, fee 0.5: 499.5 free
    after = size_buy_legs(ps, plan, st, rk, quote_free=D("499.5"))
    btc = after.legs[1].plan
    assert (btc.action, btc.quantity, btc.reason_code) == ("BUY", D("0.004990"), "rebalance_buy")
    assert btc.notional * (1 + D("0.001")) <= D("499.5")


def test_p2_nothing_free_after_the_sells_holds_insufficient_balance() -> None:
    ps = basket("20000", "0", "0", "0.5", "0.5", fee="0.001")
    st, rk = strategy("symmetric"), risk()
    after = size_buy_legs(ps, evaluate_portfolio(ps, st, rk), st, rk, quote_free=D(0))
    assert decisions(after)["BTC"] == ("HOLD", D(0), "insufficient_balance", False)


def test_p3_the_spendable_quote_is_split_by_the_notionals() -> None:
    ps = basket("0", "0", "600", "0.4", "0.4")
    plan = evaluate_portfolio(ps, strategy("symmetric"), risk(usdt_reserve="300"))
    assert plan.spendable == D(300)
    assert decisions(plan) == {
        "QRL": ("BUY", D(3000), "rebalance_buy", False),
        "BTC": ("BUY", D("0.001500"), "rebalance_buy", False),
    }


def test_p4_intelligent_one_leg_sells_the_other_holds_no_buy_signal() -> None:
    ps = basket("10000", "0", "1000", "0.25", "0.25",
                qrl={"trend": Trend.BEARISH, "cost": "0.048", "core": "7000"},
                btc={"trend": Trend.NEUTRAL})
    plan = evaluate_portfolio(ps, strategy("intelligent"), risk())
    assert decisions(plan) == {
        "QRL": ("SELL", D(2500), "rebalance_sell", False),
        "BTC": ("HOLD", D(0), "no_buy_signal", False),
    }


def test_drift_per_asset_and_of_the_portfolio() -> None:
    plan = evaluate_portfolio(basket("10000", "0", "1000", "0.25", "0.25"),
                              strategy("symmetric"), risk())
    drifts = {leg.asset: leg.drift for leg in plan.legs}
    assert drifts["BTC"] == D("-0.25")  # 0 / 1500 - 0.25
    assert drifts["QRL"] is not None
    assert drifts["QRL"].quantize(D("1E-20")) == D("0.08333333333333333333")  # 500/1500 - 0.25
    assert plan.drift == D("0.25")


def test_a_missing_price_holds_every_leg_no_price_naming_it() -> None:
    ps = basket("10000", "0", "1000", "0.25", "0.25")
    btc = ps.legs[1]
    ps = replace(ps, legs=(ps.legs[0], replace(btc, snapshot=replace(btc.snapshot, price=None))))
    plan = evaluate_portfolio(ps, strategy("symmetric"), risk())
    assert [leg.plan.reason_code for leg in plan.legs] == ["no_price", "no_price"]
    assert "no usable price for BTC" in plan.legs[0].plan.reason
    assert plan.total_value is None and plan.drift is None


def test_the_plan_record_serialises_every_leg() -> None:
    plan = evaluate_portfolio(basket("10000", "0", "1000", "0.25", "0.25"),
                              strategy("symmetric"), risk())
    doc = json.loads(json.dumps(plan.to_dict()))
    assert doc["total_value"] == "1500" and doc["drift"] == "0.25"
    assert [(leg["asset"], leg["plan"]["action"], leg["plan"]["quantity"], leg["pending"])
            for leg in doc["legs"]] == [("QRL", "SELL", "2500", False),
                                        ("BTC", "BUY", "0.00375", True)]
    assert doc["legs"][0]["plan"]["figures"]["total_value"] == "1500"


def test_a_leg_the_split_puts_below_the_minimum_holds_insufficient_balance() -> None:
    # V 600; QRL wants 420, BTC 30; spendable 60 is short: 56 and 4 (below min_notional 5)
    ps = basket("0", "0", "600", "0.7", "0.05")
    plan = evaluate_portfolio(ps, strategy("symmetric"), risk(usdt_reserve="540"))
    assert decisions(plan) == {
        "QRL": ("BUY", D(1120), "rebalance_buy", False),
        "BTC": ("HOLD", D(0), "insufficient_balance", False),
    }
    assert "this leg's share 4 of the free quote" in plan.legs[1].plan.reason
    assert plan.legs[0].plan.figures.spendable == D(56)
