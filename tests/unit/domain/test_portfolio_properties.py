"""Hypothesis over random portfolios (STRATEGY.md v3): the BUY legs never spend more than
``spendable``; one leg holding never changes another leg's decision; a one-asset portfolio
decides exactly as the single-pair planner."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from daemon.domain.models import Balance, Side, Trend
from daemon.domain.params import RiskParams, StrategyParams
from daemon.domain.planner import Snapshot, evaluate
from daemon.domain.portfolio import (
    LegInput,
    PortfolioPlan,
    PortfolioSnapshot,
    evaluate_portfolio,
    size_buy_legs,
)
from daemon.domain.reasons import ReasonCode
from tests.support.domain_builders import leg_snap, risk, snap, strategy
from tests.unit.domain.test_planner_properties import cases, dec, trade_cases, v2_settings
from tests.unit.domain.test_planner_vectors import VECTORS

D = Decimal
ASSETS = ("QRL", "BTC", "ETH", "MX")
Case = tuple[PortfolioSnapshot, StrategyParams, RiskParams]


@st.composite
def portfolios(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 4))
    weights = [D(draw(st.integers(1, 100))) for _ in range(n)]
    scale = max(sum(weights), D(100))  # the targets sum to at most 1
    legs = []
    for asset, w in zip(ASSETS, weights, strict=False):
        price = draw(dec("0.001", "50000", 4))
        value = D(draw(st.integers(0, 20_000)))
        legs.append(LegInput(asset, (w / scale).quantize(D("0.0001")), leg_snap(
            asset, str((value / price).quantize(D("0.0001"))), str(price),
            trend=draw(st.sampled_from(list(Trend))),
            cost=str((price * D(draw(st.integers(50, 150))) / 100).quantize(D("0.000001"))),
            trades_today=draw(st.sampled_from([0, 0, 0, 12])),
            base_precision=draw(st.integers(0, 8)), min_qty=draw(dec("0", "0.01", 3)),
            min_notional=draw(dec("0", "5", 2)), taker_fee=draw(dec("0", "0.002", 4)),
        )))
    u = draw(dec("0", "20000", 2))
    ps = PortfolioSnapshot(Balance("USDT", u, draw(dec("0", "100", 2))), tuple(legs))
    strat = strategy(draw(st.sampled_from(["intelligent", "symmetric"])),
                     threshold=draw(dec("0", "0.03", 3)), **v2_settings(draw))
    rk = risk(min_notional=draw(dec("0", "5", 2)), max_order_notional=draw(dec("5", "5000", 2)),
              usdt_reserve=draw(dec("0", "500", 2)))
    return ps, strat, rk


def spent(plan: PortfolioPlan, ps: PortfolioSnapshot) -> Decimal:
    fees = {leg.asset: leg.snapshot.rules.taker_fee for leg in ps.legs}
    return sum((leg.plan.notional * (1 + fees[leg.asset]) for leg in plan.buys), D(0))


@settings(max_examples=300, deadline=None)
@given(portfolios(), dec("0", "30000", 2))
def test_the_buy_legs_never_spend_more_than_spendable(case: Case, free_after: Decimal) -> None:
    ps, strat, rk = case
    plan = evaluate_portfolio(ps, strat, rk)
    event(f"sells: {bool(plan.sells)}, buys: {len(plan.buys)}")
    if plan.buys_pending:  # the sells go first; the buys are sized from what is free after
        plan = size_buy_legs(ps, plan, strat, rk, free_after)
        assert not plan.buys_pending
    assert spent(plan, ps) <= max(D(0), plan.spendable)
    for leg in plan.buys:
        assert leg.plan.quantity > 0 and leg.plan.notional >= rk.min_notional


@settings(max_examples=300, deadline=None)
@given(portfolios(), st.data())
def test_a_leg_holding_never_changes_another_legs_decision(case: Case, data: st.DataObject,
                                                           ) -> None:
    ps, strat, rk = case
    held_i = data.draw(st.integers(0, len(ps.legs) - 1))
    held_leg = ps.legs[held_i]  # its own daily limit holds it; its value stays in V
    held_snap = replace(held_leg.snapshot, trades_today=rk.max_trades_per_day)
    held_ps = replace(ps, legs=tuple(replace(leg, snapshot=held_snap) if i == held_i else leg
                                     for i, leg in enumerate(ps.legs)))
    # the buys see the same free quote either way (a held SELL brings no proceeds to compare)
    before, after = (_final(p, strat, rk, ps.quote.free) for p in (ps, held_ps))
    assert not after.legs[held_i].plan.is_trade
    for i, (b, a) in enumerate(zip(before.legs, after.legs, strict=True)):
        if i == held_i:
            continue
        event(f"{b.plan.reason_code} -> {a.plan.reason_code}")
        if b.plan.side is Side.BUY:  # its share of the quote can only grow
            assert a.plan.side is Side.BUY and a.plan.quantity >= b.plan.quantity
        elif b.plan.reason_code is ReasonCode.INSUFFICIENT_BALANCE:
            assert a.plan.side is Side.BUY or a.plan.reason_code is b.plan.reason_code
        else:
            assert a.plan == b.plan


def _final(ps: PortfolioSnapshot, strat: StrategyParams, rk: RiskParams,
           free_after: Decimal) -> PortfolioPlan:
    plan = evaluate_portfolio(ps, strat, rk)
    return size_buy_legs(ps, plan, strat, rk, free_after) if plan.buys_pending else plan


def one_asset(s: Snapshot, ratio: Decimal) -> PortfolioSnapshot:
    return PortfolioSnapshot(s.quote, (LegInput(s.rules.base_asset, ratio, s),), s.halted)


@pytest.mark.parametrize(
    ("vid", "name", "st_kw", "rk_kw", "args", "kw", "action", "qty", "code"),
    VECTORS, ids=[v[0] for v in VECTORS],
)
def test_a_one_asset_portfolio_decides_as_the_single_pair_on_every_vector(
    vid: str, name: str, st_kw: dict[str, str], rk_kw: dict[str, str],
    args: tuple[str, str, str], kw: dict[str, object], action: str, qty: str, code: str,
) -> None:
    s, strat, rk = snap(*args, **kw), strategy(name, **st_kw), risk(**rk_kw)  # type: ignore[arg-type]
    plan = evaluate_portfolio(one_asset(s, strat.ratio), strat, rk)
    assert plan.legs[0].plan == evaluate(s, strat, rk)
    assert (plan.legs[0].plan.action, plan.legs[0].plan.quantity) == (action, D(qty))


@settings(max_examples=300, deadline=None)
@given(st.one_of(cases(), trade_cases()))
def test_a_one_asset_portfolio_decides_as_the_single_pair(
    case: tuple[Snapshot, StrategyParams, RiskParams],
) -> None:
    s, strat, rk = case
    plan = evaluate_portfolio(one_asset(s, strat.ratio), strat, rk)
    assert not plan.buys_pending
    assert plan.legs[0].plan == evaluate(s, strat, rk)
