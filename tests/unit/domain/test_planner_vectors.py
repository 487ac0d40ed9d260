"""STRATEGY.md public vectors (ratio 0.5, threshold 0.01, min_notional 5, free = total, fees 0,
base_precision 8, no limits, no reserve), as a table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.domain.models import Trend
from daemon.domain.planner import evaluate
from tests.support.domain_builders import risk, snap, strategy

D = Decimal
BULL, BEAR, NEUTRAL = Trend.BULLISH, Trend.BEARISH, Trend.NEUTRAL

# id, strategy name, strategy kw, risk kw, snapshot args, snapshot kw, action, qty, code
VECTORS = [
    ("S1", "symmetric", {"threshold": "0"}, {"min_notional": "0.1"},
     ("10", "80", "2"), {}, "BUY", "15", "rebalance_buy"),
    ("S2", "symmetric", {"threshold": "0"}, {"min_notional": "0.1"},
     ("50", "20", "2"), {}, "SELL", "20", "rebalance_sell"),
    ("S4", "symmetric", {}, {}, ("100", "100", "2"), {}, "SELL", "25", "rebalance_sell"),
    ("S5", "symmetric", {}, {}, ("100", "100", "0.5"), {}, "BUY", "50", "rebalance_buy"),
    ("S6", "symmetric", {}, {}, ("10", "10", "2"), {}, "SELL", "2.5", "rebalance_sell"),
    ("S7", "symmetric", {}, {}, ("100", "202", "2"), {}, "HOLD", "0", "within_threshold"),
    ("S13", "symmetric", {}, {}, ("12000", "100", "0.05"), {}, "SELL", "5000",
     "rebalance_sell"),
    ("S14", "symmetric", {}, {}, ("9840", "508", "0.05"), {}, "HOLD", "0", "within_threshold"),
    ("S19", "symmetric", {}, {}, ("5029.126213592233", "0", "0.0515"), {"base_precision": 2},
     "SELL", "2514.56", "rebalance_sell"),
    ("I1", "intelligent", {}, {}, ("8000", "600", "0.05"),
     {"trend": BULL, "cost": "0.052", "core": "5600"}, "BUY", "2000", "rebalance_buy"),
    ("I2", "intelligent", {}, {}, ("8000", "600", "0.05"),
     {"trend": BULL, "cost": "0.049", "core": "5600"}, "HOLD", "0", "price_above_cost"),
    ("I3", "intelligent", {}, {}, ("8000", "600", "0.05"),
     {"trend": BEAR, "cost": "0.052", "core": "5600"}, "HOLD", "0", "no_buy_signal"),
    ("I4", "intelligent", {}, {}, ("12000", "100", "0.05"),
     {"trend": BEAR, "cost": "0.048", "core": "8400"}, "SELL", "3600", "rebalance_sell"),
    ("I5", "intelligent", {}, {}, ("12000", "100", "0.0515"),
     {"trend": BEAR, "cost": "0.05", "core": "8400"}, "SELL", "3600", "rebalance_sell"),
    ("I6", "intelligent", {}, {}, ("12000", "100", "0.05149"),
     {"trend": BEAR, "cost": "0.05", "core": "8400"}, "HOLD", "0", "below_profit_target"),
    ("I9", "intelligent", {}, {}, ("12000", "100", "0.05"),
     {"trend": BULL, "cost": "0.06"}, "HOLD", "0", "no_sell_signal"),
    ("I14", "intelligent", {}, {}, ("8000", "3", "0.05"),
     {"u_locked": "597", "trend": BULL, "cost": "0.052", "core": "5600"},
     "HOLD", "0", "insufficient_balance"),
    # v2: the drift guard, rebalance_fraction, the spread check
    ("G1", "intelligent", {"max_drift": "0.10"}, {}, ("16000", "200", "0.05"),
     {"trend": NEUTRAL, "cost": "0.06", "core": "5000"}, "SELL", "6000", "drift_guard_sell"),
    ("G2", "intelligent", {"max_drift": None}, {}, ("16000", "200", "0.05"),
     {"trend": NEUTRAL, "cost": "0.06", "core": "5000"}, "HOLD", "0", "no_sell_signal"),
    ("G3", "intelligent", {"max_drift": "0.10"}, {}, ("2000", "900", "0.05"),
     {"trend": BEAR, "cost": "0.02"}, "BUY", "8000", "drift_guard_buy"),
    ("F1", "symmetric", {"rebalance_fraction": "0.5"}, {}, ("100", "100", "2"), {},
     "SELL", "12.5", "rebalance_sell"),
    ("R1", "symmetric", {}, {"max_spread_pct": "1"}, ("100", "100", "2"),
     {"bid": "1.98", "ask": "2.02"}, "HOLD", "0", "spread_too_wide"),
    ("R2", "symmetric", {}, {"max_spread_pct": "1"}, ("100", "100", "2"),
     {"bid": "1.999", "ask": "2.001"}, "SELL", "25", "rebalance_sell"),
]


@pytest.mark.parametrize(
    ("vid", "name", "st_kw", "rk_kw", "args", "kw", "action", "qty", "code"),
    VECTORS, ids=[v[0] for v in VECTORS],
)
def test_public_vector(
    vid: str, name: str, st_kw: dict[str, str], rk_kw: dict[str, str],
    args: tuple[str, str, str], kw: dict[str, object], action: str, qty: str, code: str,
) -> None:
    plan = evaluate(snap(*args, **kw), strategy(name, **st_kw), risk(**rk_kw))  # type: ignore[arg-type]
    assert (plan.action, plan.quantity, plan.reason_code) == (action, D(qty), code), plan.reason
    assert plan.notional == plan.quantity * D(args[2])


def test_s1_notional_is_30() -> None:
    plan = evaluate(snap("10", "80", "2"), strategy("symmetric", threshold="0"),
                    risk(min_notional="0.1"))
    assert plan.notional == D(30)
    assert plan.figures.total_value == D(100) and plan.figures.delta == D(-30)


def test_s6_notional_exactly_minimum() -> None:
    plan = evaluate(snap("10", "10", "2"), strategy("symmetric"), risk())
    assert plan.notional == D(5) == plan.figures.min_notional_eff


def test_i4_core_binds() -> None:
    plan = evaluate(snap("12000", "100", "0.05", trend=BEAR, cost="0.048", core="8400"),
                    strategy(), risk())
    assert plan.figures.tradeable == D(3600)
    assert plan.figures.raw_qty == D(5000)
    assert "tradeable" in plan.reason
    assert plan.core_floor_init is None


def test_i9_core_floor_initialised_from_holdings() -> None:
    plan = evaluate(snap("12000", "100", "0.05", trend=BULL, cost="0.06"), strategy(), risk())
    assert plan.core_floor_init == D(8400)
    assert plan.figures.core_floor == D(8400)


def test_g1_drift_guard_figures() -> None:
    """G1: V 1000, delta 300 >= 100; raw 6000 < tradeable 11000; weight 0.8, drift +0.3."""
    plan = evaluate(snap("16000", "200", "0.05", trend=NEUTRAL, cost="0.06", core="5000"),
                    strategy(max_drift="0.10"), risk())
    fig = plan.figures
    assert (fig.total_value, fig.delta, fig.tradeable) == (D(1000), D(300), D(11000))
    assert fig.drift == D("0.3")
    assert plan.reason.startswith("drift guard (trend and cost gates skipped): SELL 6000 QRL")


def test_cost_figures_of_a_trade_and_of_a_hold() -> None:
    """R2 with a taker fee of 0.1%: est_fee = notional * fee, est_spread_cost = qty * (ask -
    bid) / 2, est_cost their sum; a HOLD carries the drift but no cost estimate."""
    plan = evaluate(snap("100", "100", "2", bid="1.999", ask="2.001", taker_fee=D("0.001")),
                    strategy("symmetric"), risk(max_spread_pct="1"))
    fig = plan.figures
    assert (plan.quantity, plan.notional) == (D(25), D(50))
    assert (fig.est_fee, fig.est_spread_cost, fig.est_cost) == (D("0.05"), D("0.025"),
                                                               D("0.075"))
    assert fig.drift is not None and abs(fig.drift - D(1) / D(6)) < D("1e-25")
    assert "est. cost 0.075 USDT" in plan.reason
    hold = evaluate(snap("100", "202", "2"), strategy("symmetric"), risk())
    assert hold.reason_code == "within_threshold"
    assert hold.figures.drift is not None and hold.figures.drift < 0
    assert (hold.figures.est_fee, hold.figures.est_cost) == (None, None)
    no_book = evaluate(snap("100", "100", "2"), strategy("symmetric"), risk())
    assert (no_book.figures.est_spread_cost, no_book.figures.est_cost) == (None, D(0))


def test_the_decision_log_line_carries_drift_and_cost() -> None:
    plan = evaluate(snap("100", "100", "2", bid="1.999", ask="2.001", taker_fee=D("0.001")),
                    strategy("symmetric"), risk())
    assert plan.costs_line() == "drift +16.67 pts"
    assert plan.reason.endswith("; est. cost 0.075 USDT")
    hold = evaluate(snap("100", "202", "2"), strategy("symmetric"), risk())
    assert hold.costs_line() == "drift -0.25 pts"
    assert evaluate(snap("1", "1", None), strategy("symmetric"), risk()).costs_line() == (
        "drift unknown")
