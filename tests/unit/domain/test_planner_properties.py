"""Hypothesis over random snapshots and settings: the invariants of STRATEGY.md hold for every
decision."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import event, given, settings
from hypothesis import strategies as st

from daemon.domain.models import Side, Trend
from daemon.domain.money import floor_to
from daemon.domain.planner import Plan, Snapshot, evaluate
from tests.support.domain_builders import risk, snap, strategy

D = Decimal


def dec(lo: str, hi: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(lo), max_value=D(hi), places=places,
                       allow_nan=False, allow_infinity=False)


def sometimes(draw: st.DrawFn, value: st.SearchStrategy[object], *, in_ten: int = 2) -> object:
    """None most of the time, a drawn value ``in_ten`` times out of ten."""
    return draw(value) if draw(st.integers(0, 9)) < in_ten else None


def mostly(draw: st.DrawFn, value: st.SearchStrategy[object]) -> object:
    return sometimes(draw, value, in_ten=9)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Snapshot, object, object]:
    base_precision = draw(st.integers(0, 8))
    price = mostly(draw, dec("0.001", "5", 5))
    s = snap(
        draw(dec("0", "100000", 6)), draw(dec("0", "5000", 6)), price,  # type: ignore[arg-type]
        q_locked=str(draw(dec("0", "5000", 4))), u_locked=str(draw(dec("0", "500", 4))),
        trend=draw(st.sampled_from([None, *Trend])),
        cost=mostly(draw, dec("0.0001", "5", 5).map(str)),  # type: ignore[arg-type]
        core=sometimes(draw, dec("0", "80000", 4).map(str), in_ten=6),  # type: ignore[arg-type]
        ma_long=sometimes(draw, dec("0.001", "5", 5).map(str)),  # type: ignore[arg-type]
        trades_today=draw(st.integers(0, 13)),
        last_trade_ms=sometimes(draw, st.integers(1_699_999_000_000, 1_700_000_000_000)),  # type: ignore[arg-type]
        base_precision=base_precision,
        min_qty=draw(dec("0", "10", 2)), min_notional=draw(dec("0", "10", 2)),
        taker_fee=draw(dec("0", "0.01", 4)),
    )
    strat = strategy(
        draw(st.sampled_from(["intelligent", "symmetric"])),
        ratio=draw(dec("0", "1", 2)), threshold=draw(dec("0", "0.05", 3)),
        buy_discount=draw(dec("0", "0.05", 3)), profit_target=draw(dec("0", "0.1", 3)),
        core_pct=draw(dec("0", "1", 2)), **v2_settings(draw),
    )
    rk = risk(
        min_notional=draw(dec("0", "10", 2)), max_order_notional=draw(dec("1", "2000", 2)),
        usdt_reserve=draw(dec("0", "200", 2)),
    )
    return s, strat, rk


def v2_settings(draw: st.DrawFn) -> dict[str, object]:
    """The drift guard off or anywhere from 1% to 50%; a fraction of the gap, often 1."""
    return {"max_drift": sometimes(draw, dec("0.01", "0.5", 2), in_ten=6),
            "rebalance_fraction": draw(st.sampled_from([D(1), D("0.5"), D("0.25"), D("0.01")]))}


def core_used(plan: Plan, s: Snapshot) -> Decimal:
    core = s.core_floor if s.core_floor is not None else plan.core_floor_init
    assert core is not None
    return core


@st.composite
def trade_cases(draw: st.DrawFn) -> tuple[Snapshot, object, object]:
    """Portfolios built from a value and a base share, so that most decisions trade."""
    price = draw(dec("0.001", "5", 5))
    value = D(draw(st.integers(50, 200_000)))
    share = D(draw(st.integers(0, 100))) / 100
    q = floor_to(value * share / price, 4)
    u = floor_to(value - q * price, 4)
    cost = floor_to(price * D(draw(st.integers(50, 150))) / 100, 6)
    name = draw(st.sampled_from(["intelligent", "symmetric"]))
    trend = Trend.BEARISH if share > D("0.5") else Trend.BULLISH
    if draw(st.integers(0, 4)) == 0:
        trend = draw(st.sampled_from(list(Trend)))
    s = snap(
        q, u, price, q_locked=str(draw(dec("0", "100", 2))),
        u_locked=str(draw(dec("0", "100", 2))), trend=trend, cost=str(cost),
        core=sometimes(draw, st.integers(0, 100_000).map(str), in_ten=5),  # type: ignore[arg-type]
        base_precision=draw(st.integers(0, 8)), min_qty=draw(dec("0", "1", 2)),
        min_notional=draw(dec("0", "5", 2)), taker_fee=draw(dec("0", "0.002", 4)),
    )
    strat = strategy(name, threshold=draw(dec("0", "0.03", 3)),
                     profit_target=draw(dec("0", "0.05", 3)), core_pct=draw(dec("0", "1", 2)),
                     **v2_settings(draw))
    reserve = floor_to(u * D(draw(st.integers(0, 100))) / 100, 2)  # often the binding limit
    rk = risk(min_notional=draw(dec("0", "5", 2)), max_order_notional=draw(dec("5", "5000", 2)),
              usdt_reserve=reserve)
    return s, strat, rk


@settings(max_examples=300, deadline=None)
@given(cases())
def test_invariants_random_snapshots(case: tuple[Snapshot, object, object]) -> None:
    check_invariants(*case)


@settings(max_examples=300, deadline=None)
@given(trade_cases())
def test_invariants_trading_snapshots(case: tuple[Snapshot, object, object]) -> None:
    check_invariants(*case)


def check_invariants(s: Snapshot, strat: object, rk: object) -> None:
    plan = evaluate(s, strat, rk)  # type: ignore[arg-type]
    event(plan.reason_code)
    with localcontext() as ctx:
        ctx.prec = 80
        if plan.action == "HOLD":
            assert plan.side is None and plan.quantity == 0 and plan.notional == 0
            return
        assert s.price is not None and plan.price == s.price
        qty, price, rules = plan.quantity, s.price, s.rules
        assert qty > 0
        assert floor_to(qty, rules.base_precision) == qty, "quantity off the precision grid"
        assert plan.notional == qty * price
        assert plan.notional >= max(rk.min_notional, rules.min_notional)  # type: ignore[attr-defined]
        assert qty >= rules.min_qty
        assert plan.notional <= rk.max_order_notional  # type: ignore[attr-defined]
        delta = s.base.total * price - strat.ratio * (s.base.total * price + s.quote.total)  # type: ignore[attr-defined]
        assert abs(delta) >= strat.threshold * (s.base.total * price + s.quote.total)  # type: ignore[attr-defined]
        # rebalance_fraction never overshoots: at most that share of the gap
        assert qty * price <= strat.rebalance_fraction * abs(delta)  # type: ignore[attr-defined]
        guard = plan.reason_code in ("drift_guard_buy", "drift_guard_sell")
        if guard:
            assert strat.name == "intelligent" and strat.max_drift is not None  # type: ignore[attr-defined]
            assert abs(delta) >= strat.max_drift * (s.base.total * price + s.quote.total)  # type: ignore[attr-defined]
        if plan.side is Side.SELL:
            assert delta > 0 and qty <= s.base.free
            if strat.name == "intelligent":  # type: ignore[attr-defined]
                # a drift-guard trade too: never below the core floor
                assert s.base.free - qty >= core_used(plan, s), "sold into the core floor"
            if strat.name == "intelligent" and not guard:  # type: ignore[attr-defined]
                assert s.trend is Trend.BEARISH and s.cost_basis is not None
        else:
            assert delta < 0
            spent = qty * price * (1 + rules.taker_fee)
            assert spent <= s.quote.free - rk.usdt_reserve  # type: ignore[attr-defined]
            if strat.name == "intelligent" and not guard:  # type: ignore[attr-defined]
                assert s.trend is Trend.BULLISH, "intelligent BUY without a BULLISH trend"
