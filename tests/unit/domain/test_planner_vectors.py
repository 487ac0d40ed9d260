"""STRATEGY.md public vectors (ratio 0.5, threshold 0.01, min_notional 5, free = total, fees 0,
base_precision 8, no limits, no reserve), as a table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.domain.models import Trend
from daemon.domain.planner import evaluate
from tests.support.domain_builders import risk, snap, strategy

D = Decimal
BULL, BEAR = Trend.BULLISH, Trend.BEARISH

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
