"""Snapshot documents: defaults, signals from closes, and an error naming the field for every
malformed input."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from daemon.config import StrategySettings
from daemon.domain.models import Trend
from daemon.domain.params import StrategyParams
from daemon.domain.snapshot import parse_snapshot, snapshot_to_dict, split_symbol
from daemon.errors import InputError

D = Decimal
ST = StrategySettings(ma_short=2, ma_long=3).params()

BRIEF_EXAMPLE: dict[str, Any] = {
    "price": "0.05",
    "balances": {"QRL": {"free": "8000", "locked": "0"}, "USDT": {"free": "600", "locked": "0"}},
    "trend": "BULLISH", "cost_basis": "0.052", "core_floor": "5600",
    "rules": {"base_precision": 2, "quote_precision": 5, "min_qty": "0.01",
              "min_notional": "1", "taker_fee": "0.0005"},
    "trades_today": 0, "last_trade_ms": None, "now_ms": 1700000000000,
}


def parse(doc: object, st: StrategyParams = ST) -> Any:
    return parse_snapshot(doc, st, symbol="QRLUSDT")


def minimal(**extra: object) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "price": "2",
        "balances": {"QRL": {"free": "10"}, "USDT": {"free": "10"}},
        "rules": {"base_precision": 8, "quote_precision": 8, "min_qty": "0",
                  "min_notional": "0", "taker_fee": "0"},
    }
    doc.update(extra)
    return doc


def test_brief_example() -> None:
    s = parse(BRIEF_EXAMPLE)
    assert s.price == D("0.05") and s.base.free == D(8000) and s.quote.total == D(600)
    assert s.trend is Trend.BULLISH and s.ma_short is None and s.ma_long is None
    assert (s.cost_basis, s.core_floor) == (D("0.052"), D(5600))
    assert s.rules.base_asset == "QRL" and s.rules.quote_asset == "USDT"
    assert s.rules.taker_fee == D("0.0005") and s.rules.base_precision == 2
    assert s.now_ms == s.last_price_ms == 1700000000000


def test_defaults() -> None:
    s = parse(minimal())
    assert s.base.locked == 0 and s.quote.locked == 0
    assert s.cost_basis is None and s.core_floor is None and s.trend is None
    assert s.trades_today == 0 and s.last_trade_ms is None and s.halted is False
    assert s.now_ms is None and s.last_price_ms is None


def test_closes_give_averages_and_trend_with_configured_periods() -> None:
    s = parse(minimal(closes=["1", "2", "3"]))
    assert (s.ma_short, s.ma_long, s.trend) == (D("2.5"), D(2), Trend.BULLISH)
    s = parse(minimal(closes=["3", "2", "1"]))
    assert s.trend is Trend.BEARISH
    deadband = StrategySettings(ma_short=2, ma_long=3, deadband="0.3").params()
    assert parse(minimal(closes=["1", "2", "3"]), deadband).trend is Trend.NEUTRAL


def test_too_few_closes_is_unknown_trend() -> None:
    s = parse(minimal(closes=["1", "2"]))
    assert s.ma_short == D("1.5") and s.ma_long is None and s.trend is None


def test_averages_without_trend_classify() -> None:
    s = parse(minimal(ma_short="1.1", ma_long="1"))
    assert s.trend is Trend.BULLISH


def test_json_numbers_accepted() -> None:
    s = parse(minimal(price=Decimal("0.0515"), trades_today=3))
    assert s.price == D("0.0515") and s.trades_today == 3


def test_null_price_is_unknown() -> None:
    assert parse(minimal(price=None)).price is None


def test_round_trip() -> None:
    s = parse(minimal(closes=["1", "2", "3"], now_ms=5, last_trade_ms=1, halted=True,
                      cost_basis="1.5", core_floor="7"))
    assert parse(snapshot_to_dict(s)) == s


def test_assets_from_rules_or_symbol() -> None:
    doc = minimal()
    doc["rules"].update(base_asset="ABC", quote_asset="XYZ")
    doc["balances"] = {"ABC": {"free": "1"}, "XYZ": {"free": "2"}, "MX": {"free": "9"}}
    s = parse(doc)
    assert (s.base.asset, s.quote.asset, s.quote.free) == ("ABC", "XYZ", D(2))
    assert split_symbol("BTCUSDC") == ("BTC", "USDC")
    with pytest.raises(InputError, match="base_asset"):
        parse_snapshot(minimal(), ST, symbol="QRLXYZ")


def _set(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(minimal())
    *parents, last = path.split(".")
    target = doc
    for p in parents:
        target = target[p]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


DELETE = object()
BAD = [
    ("price", DELETE, "snapshot.price: missing"),
    ("price", "abc", "snapshot.price: not a decimal"),
    ("price", True, "snapshot.price: expected a decimal"),
    ("balances", DELETE, "snapshot.balances: missing"),
    ("balances", [], "snapshot.balances: expected a JSON object"),
    ("balances.QRL", DELETE, "snapshot.balances.QRL: missing"),
    ("balances.USDT.free", DELETE, "snapshot.balances.USDT.free: missing"),
    ("balances.USDT.free", "-1", "snapshot.balances.USDT.free: must be >= 0"),
    ("balances.QRL.locked", "NaN", "snapshot.balances.QRL.locked: not a finite"),
    ("balances.QRL.frei", "1", "snapshot.balances.QRL.frei: unknown field"),
    ("prise", "1", "snapshot.prise: unknown field"),
    ("rules", DELETE, "snapshot.rules: missing"),
    ("rules.min_qty", DELETE, "snapshot.rules.min_qty: missing"),
    ("rules.min_notional", "-1", "snapshot.rules.min_notional: must be >= 0"),
    ("rules.taker_fee", "2", "snapshot.rules.taker_fee: must be <= 1"),
    ("rules.base_precision", "2", "snapshot.rules.base_precision: expected an integer"),
    ("rules.base_precision", True, "snapshot.rules.base_precision: expected an integer"),
    ("rules.quote_precision", 19, "snapshot.rules.quote_precision: must be between 0 and 18"),
    ("rules.step", "1", "snapshot.rules.step: unknown field"),
    ("trend", "UP", "snapshot.trend: expected BULLISH"),
    ("closes", "1,2", "snapshot.closes: expected a list"),
    ("closes", ["1", "x"], r"snapshot.closes\[1\]: not a decimal"),
    ("closes", ["1", "0"], r"snapshot.closes\[1\]: must be positive"),
    ("cost_basis", "0", "snapshot.cost_basis: must be positive"),
    ("core_floor", "-5", "snapshot.core_floor: must be >= 0"),
    ("trades_today", -1, "snapshot.trades_today: must be >= 0"),
    ("trades_today", "3", "snapshot.trades_today: expected an integer"),
    ("last_trade_ms", 5, "snapshot.now_ms: missing, needed because last_trade_ms"),
    ("last_price_ms", 5, "snapshot.now_ms: missing, needed because last_price_ms"),
    ("now_ms", 1.5, "snapshot.now_ms: expected an integer"),
    ("halted", "yes", "snapshot.halted: expected true or false"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD,
                         ids=[f"{b[0]}={'(deleted)' if b[1] is DELETE else repr(b[1])}"
                              for b in BAD])
def test_malformed_field_is_named(path: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(_set(path, value))


def test_closes_and_trend_together_is_an_error() -> None:
    with pytest.raises(InputError, match=r"snapshot\.trend: give either closes or trend"):
        parse(minimal(closes=["1", "2", "3"], trend="BULLISH"))


def test_not_an_object() -> None:
    with pytest.raises(InputError, match="snapshot: expected a JSON object, got list"):
        parse([])
