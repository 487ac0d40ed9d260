"""``portfolio:`` (STRATEGY.md v3): the targets as validated settings, every bad one named by
its key; the single-pair form unchanged; the pairs the exchange does not list, named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from daemon.config import ConfigError, Settings, parse_settings
from daemon.config_portfolio import pair_problems

D = Decimal


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.problems


def test_targets_read_case_insensitively_in_order_with_exact_decimals() -> None:
    s = parse_settings({"portfolio": {"quote": "usdt",
                                      "targets": {"qrl": 0.1, "BTC": 0.25, "Eth": "0.3"}}})
    assert s.portfolio is not None
    assert s.portfolio.quote == "USDT"
    assert s.portfolio.targets == {"QRL": D("0.1"), "BTC": D("0.25"), "ETH": D("0.3")}
    assert s.portfolio.pairs() == {"QRL": "QRLUSDT", "BTC": "BTCUSDT", "ETH": "ETHUSDT"}


def test_the_quote_defaults_to_usdt_and_the_weights_may_sum_to_exactly_1() -> None:
    s = parse_settings({"portfolio": {"targets": {"QRL": 0.5, "BTC": 0.5}}})
    assert s.portfolio is not None and s.portfolio.quote == "USDT"


def test_the_single_pair_form_is_unchanged() -> None:
    s = parse_settings({"symbol": "QRLUSDT", "strategy": {"ratio": 0.4}})
    assert s.portfolio is None and s.strategy.ratio == D("0.4")
    assert parse_settings({}) == Settings()


@pytest.mark.parametrize(("targets", "expected"), [
    ({"QRL": 0.7, "BTC": 0.6},
     "portfolio.targets: Value error, the weights sum to 1.3, above 1 (the quote asset's target "
     "is 1 less their sum)"),
    ({"QRL": 0.2, "qrl": 0.1}, "portfolio.targets: Value error, QRL is listed twice ('QRL' and "
                               "'qrl')"),
    ({"QRL": 0.2, "USDT": 0.1}, "portfolio.targets: USDT is the quote asset (portfolio.quote): "
                                "its target is what the other weights leave, do not list it"),
    ({"QRL": 0.2, "usdt": 0.1}, "portfolio.targets: USDT is the quote asset (portfolio.quote): "
                                "its target is what the other weights leave, do not list it"),
    ({"QRL": 0}, "portfolio.targets.QRL: Input should be greater than 0 (got 0)"),
    ({"QRL": 1.5}, "portfolio.targets.QRL: Input should be less than or equal to 1 (got '1.5')"),
    ({"QRL": "lots"}, "portfolio.targets.QRL: Input should be a valid decimal (got 'lots')"),
    ({"B/C": 0.1}, "portfolio.targets.B/C.[key]: Value error, asset 'B/C' is not an asset name "
                   "(1 to 20 letters and digits, e.g. BTC) (got 'B/C')"),
    ({}, "portfolio.targets: Value error, list at least one asset and its weight, e.g. "
         "{BTC: 0.5}"),
])
def test_bad_targets_are_named_by_their_key(targets: dict[str, Any], expected: str) -> None:
    assert problems({"portfolio": {"quote": "USDT", "targets": targets}}) == [expected]


def test_every_bad_target_at_once_and_the_other_keys_too() -> None:
    found = problems({"portfolio": {"targets": {"QRL": 0, "BTC": 2, "B C": 0.1}},
                      "risk": {"min_notional": -1}})
    assert sorted(p.split(":")[0] for p in found) == [
        "portfolio.targets.B C.[key]", "portfolio.targets.BTC", "portfolio.targets.QRL",
        "risk.min_notional"]


@pytest.mark.parametrize(("portfolio", "expected"), [
    ({"targets": []}, "portfolio.targets: Input should be a valid dictionary"),
    ({"quote": "US DT", "targets": {"QRL": 0.1}},
     "portfolio.quote: Value error, quote asset 'US DT' is not an asset name"),
    ({"targets": {"QRL": 0.1}, "weights": 1}, "portfolio.weights: unknown key"),
    ({"quote": "USDT"}, "portfolio.targets: Field required"),
])
def test_a_bad_portfolio_section(portfolio: dict[str, Any], expected: str) -> None:
    found = problems({"portfolio": portfolio})
    assert len(found) == 1 and found[0].startswith(expected), found


def test_symbol_or_ratio_next_to_a_portfolio_is_refused_naming_each() -> None:
    found = problems({"symbol": "BTCUSDT", "strategy": {"ratio": 0.3},
                      "portfolio": {"targets": {"BTC": 0.3}}})
    assert [p.split(":")[0] for p in found] == ["symbol", "strategy.ratio"]
    assert "give either the single pair (symbol) or portfolio, not both" in found[0]


def test_pairs_the_exchange_does_not_list_or_trade_are_named() -> None:
    s = parse_settings({"portfolio": {"targets": {"QRL": 0.2, "BTC": 0.2, "ETH": 0.2}}})
    assert s.portfolio is not None
    listed = {"QRLUSDT": True, "BTCUSDT": False, "XRPUSDT": True}
    assert pair_problems(s.portfolio, listed) == [
        "portfolio.targets.BTC: the pair BTCUSDT is not tradable on the exchange now (status "
        "or spot trading off)",
        "portfolio.targets.ETH: the pair ETHUSDT does not exist on the exchange",
    ]
    assert pair_problems(s.portfolio, {"QRLUSDT": True, "BTCUSDT": True,
                                       "ETHUSDT": True}) == []


def test_at_most_36_assets_so_that_every_leg_has_its_own_client_ids() -> None:
    """Each leg of an evaluation appends one base-36 character to the cycle id: a 37th asset
    would share leg 0's client order ids (found by review)."""
    names = [f"A{i:02d}" for i in range(37)]
    assert problems({"portfolio": {"targets": {n: "0.01" for n in names}}}) == [
        "portfolio.targets: Value error, 37 assets listed, at most 36 (each leg of an "
        "evaluation takes one base-36 character of its client order ids)"]
    ok = parse_settings({"portfolio": {"targets": {n: "0.01" for n in names[:36]}}})
    assert ok.portfolio is not None and len(ok.portfolio.targets) == 36
