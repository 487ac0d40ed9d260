"""Every reason code of STRATEGY.md, with the boundaries: exactly at a threshold/minimum
trades, one step past it holds."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from daemon.domain.models import Trend
from daemon.domain.planner import Plan, evaluate
from tests.support.domain_builders import risk, snap, strategy

D = Decimal
BULL, BEAR, NEUT = Trend.BULLISH, Trend.BEARISH, Trend.NEUTRAL
NOW = 1_700_000_000_000


def sym(s: object, **rk: str | int) -> Plan:
    return evaluate(s, strategy("symmetric"), risk(**rk))  # type: ignore[arg-type]


def smart(s: object, st_kw: dict[str, str] | None = None, **rk: str | int) -> Plan:
    return evaluate(s, strategy("intelligent", **(st_kw or {})), risk(**rk))  # type: ignore[arg-type]


def test_halted_comes_first() -> None:
    plan = sym(snap("0", "0", None, halted=True))
    assert (plan.action, plan.reason_code) == ("HOLD", "halted")
    assert plan.quantity == 0 and plan.side is None


@pytest.mark.parametrize("price", [None, "0", "-1"])
def test_no_price(price: str | None) -> None:
    assert sym(snap("100", "100", price)).reason_code == "no_price"


def test_empty_portfolio() -> None:
    assert sym(snap("0", "0", "2")).reason_code == "empty_portfolio"


def test_insufficient_data_only_for_intelligent() -> None:
    assert smart(snap("12000", "100", "0.05")).reason_code == "insufficient_data"
    assert sym(snap("12000", "100", "0.05")).reason_code == "rebalance_sell"


def test_within_threshold_boundary_exactly_one_percent_trades() -> None:
    # V = 100, delta = 1 = 1% of V: trades; 0.99 holds.
    plan = sym(snap("51", "49", "1"), min_notional="0.1")
    assert (plan.action, plan.quantity) == ("SELL", D(1))
    plan = sym(snap("50.99", "49.01", "1"), min_notional="0.1")
    assert plan.reason_code == "within_threshold"
    assert plan.figures.threshold_value == D(1) and plan.figures.delta == D("0.99")


def test_zero_delta_holds_even_with_zero_threshold() -> None:
    plan = evaluate(snap("50", "100", "2"), strategy("symmetric", threshold="0"),
                    risk(min_notional="0"))
    assert plan.reason_code == "within_threshold"


@pytest.mark.parametrize("trend", [BEAR, NEUT])
def test_no_buy_signal(trend: Trend) -> None:
    assert smart(snap("8000", "600", "0.05", trend=trend)).reason_code == "no_buy_signal"


@pytest.mark.parametrize("trend", [BULL, NEUT])
def test_no_sell_signal(trend: Trend) -> None:
    plan = smart(snap("12000", "100", "0.05", trend=trend, cost="0.01"))
    assert plan.reason_code == "no_sell_signal"


def test_buy_discount_boundary() -> None:
    st = {"buy_discount": "0.02"}  # cost 0.05 -> buy at or below 0.049
    assert smart(snap("8000", "600", "0.049", trend=BULL, cost="0.05"), st).action == "BUY"
    plan = smart(snap("8000", "600", "0.04901", trend=BULL, cost="0.05"), st)
    assert plan.reason_code == "price_above_cost"


def test_unknown_cost_does_not_block_buy() -> None:
    plan = smart(snap("8000", "600", "0.05", trend=BULL, core="5600"))
    assert (plan.action, plan.quantity) == ("BUY", D(2000))


def test_no_cost_basis_blocks_sell() -> None:
    assert smart(snap("12000", "100", "0.05", trend=BEAR)).reason_code == "no_cost_basis"


def test_profit_target_from_config() -> None:
    s = snap("12000", "100", "0.055", trend=BEAR, cost="0.05", core="8400")
    assert smart(s, {"profit_target": "0.1"}).action == "SELL"  # exactly 0.055
    assert smart(s, {"profit_target": "0.1000001"}).reason_code == "below_profit_target"


def test_below_min_order_notional_boundary() -> None:
    assert sym(snap("10", "10", "2")).notional == D(5)  # S6: exactly 5 trades
    plan = sym(snap("10", "10", "2"), min_notional="5.01")
    assert plan.reason_code == "below_min_order"
    assert "5.01" in plan.reason


def test_exchange_min_notional_counts_when_larger() -> None:
    plan = sym(snap("10", "10", "2", min_notional=D("5.5")))
    assert plan.reason_code == "below_min_order"
    assert plan.figures.min_notional_eff == D("5.5")


def test_min_qty_boundary() -> None:
    assert sym(snap("10", "10", "2", min_qty=D("2.5"))).quantity == D("2.5")
    assert sym(snap("10", "10", "2", min_qty=D("2.51"))).reason_code == "below_min_order"


def test_minimum_checked_after_rounding() -> None:
    # raw 2.5 -> base_precision 0 floors to 2 (notional 4 < 5): the FINAL qty is checked.
    plan = sym(snap("10", "10", "2", base_precision=0))
    assert plan.reason_code == "below_min_order"
    assert plan.figures.raw_qty == D("2.5")


def test_core_protected_when_the_floor_makes_it_too_small() -> None:
    plan = smart(snap("12000", "100", "0.05", trend=BEAR, cost="0.01", core="11950"))
    assert plan.reason_code == "core_protected"  # 50 QRL = 2.5 USDT < 5
    assert plan.figures.tradeable == D(50)
    plan = smart(snap("12000", "100", "0.05", trend=BEAR, cost="0.01", core="13000"))
    assert plan.reason_code == "core_protected" and plan.figures.tradeable == 0


def test_core_floor_exactly_leaves_minimum() -> None:
    plan = smart(snap("12000", "100", "0.05", trend=BEAR, cost="0.01", core="11900"))
    assert (plan.action, plan.quantity, plan.notional) == ("SELL", D(100), D(5))


def test_small_delta_is_below_min_order_not_core_protected() -> None:
    # V = 100, delta 1.5 (above 1% threshold) but 1.5 USDT < 5 even without the floor.
    plan = smart(snap("51.5", "48.5", "1", trend=BEAR, cost="0.5", core="51"))
    assert plan.reason_code == "below_min_order"


def test_insufficient_balance_from_reserve() -> None:
    plan = smart(snap("8000", "600", "0.05", trend=BULL, core="5600"), usdt_reserve="596")
    assert plan.reason_code == "insufficient_balance"  # 4 USDT spendable < 5
    plan = smart(snap("8000", "600", "0.05", trend=BULL, core="5600"), usdt_reserve="700")
    assert plan.reason_code == "insufficient_balance" and plan.figures.spendable == D(-100)
    plan = smart(snap("8000", "600", "0.05", trend=BULL, core="5600"), usdt_reserve="595")
    assert (plan.action, plan.notional) == ("BUY", D(5))


def test_buy_sizing_includes_taker_fee_and_floors() -> None:
    plan = sym(snap("0", "100", "1", taker_fee=D("0.001"), base_precision=2), usdt_reserve="60")
    assert plan.quantity == D("39.96")  # 40 / 1.001 = 39.96003..., floored
    assert plan.quantity * D("1.001") <= D(40)
    assert plan.reason.startswith("BUY 39.96 QRL") and "free_quote" in plan.reason


def test_sell_limited_by_free_base_not_total() -> None:
    plan = sym(snap("1000", "100", "0.05", q_locked="11000"))
    assert (plan.action, plan.quantity) == ("SELL", D(1000))


def test_symmetric_sell_too_small_because_of_locked_base_is_below_min_order() -> None:
    assert sym(snap("10", "100", "0.05", q_locked="11990")).reason_code == "below_min_order"


def test_max_order_notional_clamps() -> None:
    plan = sym(snap("12000", "100", "0.05"), max_order_notional="100")
    assert (plan.quantity, plan.notional) == (D(2000), D(100))


def test_core_floor_initialised_from_total_base() -> None:
    plan = smart(snap("8000", "600", "0.05", q_locked="2000", trend=BEAR))
    assert plan.core_floor_init == D(7000) == plan.figures.core_floor
    assert sym(snap("8000", "600", "0.05")).core_floor_init is None


def test_core_floor_does_not_erode_over_repeated_sells() -> None:
    core, q, u = "7000", D(10000), D(0)
    sold = []
    for _ in range(4):
        plan = smart(snap(q, u, "1", trend=BEAR, cost="0.5", core=core))
        if plan.action != "SELL":
            break
        sold.append(plan.quantity)
        q, u = q - plan.quantity, u + plan.notional
    assert q == D(7000) and sum(sold) == D(3000)


# --- risk limits ---------------------------------------------------------------------------

TRADE = ("12000", "100", "0.05")


def test_cooldown_boundary() -> None:
    assert sym(snap(*TRADE, last_trade_ms=NOW - 300_000)).action == "SELL"
    plan = sym(snap(*TRADE, last_trade_ms=NOW - 299_999))
    assert plan.reason_code == "cooldown" and "299.999" in plan.reason


def test_daily_limit_boundary() -> None:
    assert sym(snap(*TRADE, trades_today=11)).action == "SELL"
    assert sym(snap(*TRADE, trades_today=12)).reason_code == "daily_trade_limit"
    assert sym(snap(*TRADE, trades_today=3), max_trades_per_day=3).reason_code == (
        "daily_trade_limit"
    )


def test_price_band_boundary() -> None:
    assert sym(snap("12000", "100", "0.055", ma_long="0.05")).action == "SELL"  # exactly 10%
    plan = sym(snap("12000", "100", "0.05501", ma_long="0.05"))
    assert plan.reason_code == "price_out_of_band"
    assert sym(snap("100", "600", "0.045", ma_long="0.05")).action == "BUY"  # -10%
    assert sym(snap("100", "600", "0.04499", ma_long="0.05")).reason_code == "price_out_of_band"


def test_stale_boundary() -> None:
    assert sym(snap(*TRADE, last_price_ms=NOW - 120_000)).action == "SELL"
    assert sym(snap(*TRADE, last_price_ms=NOW - 120_001)).reason_code == "stale_market_data"


def test_risk_order_cooldown_daily_band_stale() -> None:
    s = snap("12000", "100", "0.06", ma_long="0.05", trades_today=99,
             last_trade_ms=NOW - 1, last_price_ms=NOW - 999_999)
    assert sym(s).reason_code == "cooldown"
    s = snap("12000", "100", "0.06", ma_long="0.05", trades_today=99, last_price_ms=0)
    assert sym(s).reason_code == "daily_trade_limit"
    s = snap("12000", "100", "0.06", ma_long="0.05", last_price_ms=0)
    assert sym(s).reason_code == "price_out_of_band"


def test_risk_applies_to_trades_only() -> None:
    s = snap("100", "202", "2", trades_today=99, last_trade_ms=NOW)
    assert sym(s).reason_code == "within_threshold"


def test_unknown_now_skips_time_checks_and_says_so() -> None:
    plan = sym(snap(*TRADE, now_ms=None, last_price_ms=None))
    assert plan.action == "SELL"
    assert plan.figures.risk_skipped == ("cooldown", "stale_market_data", "price_out_of_band",
                                         "spread_too_wide")
    assert "cooldown not checked (now_ms unknown)" in plan.reason
    assert "price_out_of_band not checked (ma_long unknown)" in plan.reason
    assert "spread_too_wide not checked (bid/ask unknown)" in plan.reason


def test_plan_to_dict_is_json_with_decimal_strings() -> None:
    plan = smart(snap("12000", "100", "0.0515", trend=BEAR, cost="0.05", ma_short="0.0514",
                      ma_long="0.0516"))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["action"] == "SELL" and data["quantity"] == "3600"
    assert data["figures"]["core_floor"] == "8400" and data["core_floor_init"] == "8400"
    assert data["figures"]["trend"] == "BEARISH"
    assert data["figures"]["ma_long"] == "0.0516"
    assert data["reason_code"] == "rebalance_sell"


def test_core_floor_not_initialised_before_valuation() -> None:
    for s in (snap("8000", "600", "0.05", trend=BEAR, halted=True),
              snap("8000", "600", None, trend=BEAR), snap("0", "0", "0.05", trend=BEAR)):
        plan = smart(s)
        assert plan.action == "HOLD" and plan.core_floor_init is None, plan.reason_code
    plan = smart(snap("8000", "600", "0.05"))
    assert plan.reason_code == "insufficient_data" and plan.core_floor_init == D(5600)
