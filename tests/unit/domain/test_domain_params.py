"""The domain runs on plain frozen parameters that the config builds, and its reason codes are
a StrEnum whose members are exactly STRATEGY.md's strings."""

from __future__ import annotations

import ast
import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest

import daemon.domain
from daemon.config import RiskSettings, StrategySettings, parse_settings
from daemon.domain.models import Balance, ExchangeRules
from daemon.domain.params import RiskParams, StrategyParams
from daemon.domain.planner import Snapshot, evaluate
from daemon.domain.reasons import ReasonCode

DOMAIN = Path(daemon.domain.__file__).resolve().parent


def test_params_carry_every_field_they_name_from_the_settings() -> None:
    settings = parse_settings({
        "strategy": {"name": "symmetric", "ratio": "0.4", "threshold": "0.02", "ma_short": 3,
                     "ma_long": 9, "deadband": "0.001", "buy_discount": "0.01",
                     "profit_target": "0.05", "core_pct": "0.6", "max_drift": "0.2",
                     "rebalance_fraction": "0.5"},
        "risk": {"min_notional": "6", "max_order_notional": "700", "usdt_reserve": "10",
                 "min_trade_interval_s": 60, "max_trades_per_day": 3,
                 "max_price_deviation_pct": "7", "stale_after_s": 30, "max_spread_pct": "2"},
    })
    pairs: list[tuple[object, object]] = [
        (settings.strategy, settings.strategy.params()), (settings.risk, settings.risk.params()),
    ]
    for section, params in pairs:
        for field in dataclasses.fields(params):  # type: ignore[arg-type]
            assert getattr(params, field.name) == getattr(section, field.name), field.name
    assert isinstance(settings.strategy.params(), StrategyParams)
    assert isinstance(settings.risk.params(), RiskParams)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.risk.params().min_notional = Decimal(1)  # type: ignore[misc]
    assert StrategySettings().params().name == "intelligent"
    assert RiskSettings().params().min_notional == Decimal(5)


def test_the_domain_imports_no_config_and_no_pydantic() -> None:
    paths = sorted(DOMAIN.glob("*.py"))
    assert len(paths) >= 10, f"the domain modules were not found under {DOMAIN}"
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("daemon.config", "pydantic")), (path.name, name)


STRATEGY_MD_CODES = {
    "halted", "no_price", "empty_portfolio", "insufficient_data", "within_threshold",
    "no_buy_signal", "price_above_cost", "no_sell_signal", "no_cost_basis",
    "below_profit_target", "below_min_order", "core_protected", "insufficient_balance",
    "cooldown", "daily_trade_limit", "price_out_of_band", "stale_market_data",
    "rebalance_buy", "rebalance_sell",
    # v2
    "spread_too_wide", "drift_guard_buy", "drift_guard_sell",
}


def test_reason_codes_are_the_strategy_strings() -> None:
    assert {c.value for c in ReasonCode} == STRATEGY_MD_CODES
    assert ReasonCode.WITHIN_THRESHOLD == "within_threshold"
    assert f"{ReasonCode.COOLDOWN}" == "cooldown"


def test_plan_json_carries_plain_strings() -> None:
    rules = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT",
                          base_precision=8, quote_precision=8, min_qty=Decimal(0),
                          min_notional=Decimal(0), taker_fee=Decimal(0))
    snap = Snapshot(price=Decimal(2), base=Balance("QRL", Decimal(50), Decimal(0)),
                    quote=Balance("USDT", Decimal(20), Decimal(0)), rules=rules,
                    ma_short=None, ma_long=None, trend=None, cost_basis=None, core_floor=None,
                    trades_today=0, last_trade_ms=None, now_ms=None, last_price_ms=None)
    plan = evaluate(snap, StrategySettings(name="symmetric").params(), RiskSettings().params())
    assert plan.reason_code is ReasonCode.REBALANCE_SELL
    data = plan.to_dict()
    assert type(data["reason_code"]) is str and data["reason_code"] == "rebalance_sell"
    figures = data["figures"]
    assert isinstance(figures, dict)
    assert figures["risk_skipped"] == ["cooldown", "stale_market_data", "price_out_of_band",
                                       "spread_too_wide"]
    assert all(type(code) is str for code in figures["risk_skipped"])
    assert json.loads(json.dumps(data))["reason_code"] == "rebalance_sell"
