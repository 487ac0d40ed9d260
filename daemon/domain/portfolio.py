"""Portfolios of several assets (STRATEGY.md v3): one decision over every leg. Pure.

``evaluate_portfolio(snapshot, strategy, risk)`` values the portfolio once,
``V = u + sum_i(q_i * price_i)``, and decides each base asset (a leg) with the single-pair
planner (``planner.evaluate``) given ``ratio = w_i`` and this V, on the leg's own pair (its
price, averages and trend, bid/ask, cost basis, core floor, exchange rules, trade counters).
One leg holding never stops another.

Sell then buy. The SELL legs are final as decided. A leg that wants to BUY (its plan is a BUY,
or a HOLD ``insufficient_balance``, and with the quote it asks for it would BUY) asks for
``N_i``: its quantity before the quote limit, times its price. The BUY legs are sized by
:func:`size_buy_legs` from the quote actually free: ``spendable = u_free - usdt_reserve``; when
they need more than that (fees included), each leg may spend ``spendable * N_i / sum(N)``, and
a leg the split puts below the minimums holds ``insufficient_balance``. When the evaluation has
SELL legs, its BUY legs are ``pending`` (their plan is the BUY as wanted, before the quote
limit): the caller places the sells, waits until every one is final, and calls
:func:`size_buy_legs` with the quote then free. Without SELL legs the BUY legs are sized at once
from the snapshot's free quote.

A price missing on any leg leaves V unknown: every leg holds ``no_price``. The portfolio's drift
is the largest ``|drift_i|`` (``drift_i = q_i * price_i / V - w_i``, each leg's figure).
A one-asset portfolio decides exactly as the single-pair planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from daemon.domain.models import Balance, Side
from daemon.domain.money import ONE, ZERO, fmt
from daemon.domain.params import RiskParams, StrategyParams
from daemon.domain.planner import (
    PRECISION_DIGITS,
    Context,
    Plan,
    Snapshot,
    div_down,
    evaluate,
    wanted_quantity,
)
from daemon.domain.reasons import ReasonCode

PENDING_NOTE = ("the BUY legs marked pending are placed once every SELL leg is final, sized "
                "then from the quote actually free: their quantity here is the most they take")


@dataclass(frozen=True, slots=True)
class LegInput:
    """One base asset: its target weight and its pair's decision inputs (the ``quote``
    balance and ``halted`` of ``snapshot`` are replaced by the portfolio's)."""

    asset: str
    weight: Decimal
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """Everything one portfolio decision needs: the quote balance, every leg, the halt."""

    quote: Balance
    legs: tuple[LegInput, ...]
    halted: bool = False


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg's decision. ``pending``: a BUY that waits for the SELL legs (its ``plan`` is
    the BUY as wanted, before the quote limit; :func:`size_buy_legs` sizes it)."""

    asset: str
    symbol: str
    weight: Decimal
    plan: Plan
    pending: bool = False

    @property
    def drift(self) -> Decimal | None:
        return self.plan.figures.drift

    def to_dict(self) -> dict[str, object]:
        drift = self.drift
        return {"asset": self.asset, "symbol": self.symbol, "weight": fmt(self.weight),
                "drift": None if drift is None else fmt(drift), "pending": self.pending,
                "plan": self.plan.to_dict()}


@dataclass(frozen=True, slots=True)
class PortfolioPlan:
    """Every leg's decision and the portfolio's totals (None where a price is unknown)."""

    quote_asset: str
    quote_total: Decimal
    quote_free: Decimal  # the free quote the BUY legs were sized from
    spendable: Decimal  # quote_free - usdt_reserve
    total_value: Decimal | None
    legs: tuple[Leg, ...]

    @property
    def drift(self) -> Decimal | None:
        """The largest |drift_i|; None when a leg's drift is unknown."""
        drifts = [leg.drift for leg in self.legs]
        if not drifts or any(d is None for d in drifts):
            return None
        return max(abs(d) for d in drifts if d is not None)

    @property
    def sells(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.plan.side is Side.SELL)

    @property
    def buys(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.plan.side is Side.BUY)

    @property
    def buys_pending(self) -> bool:
        return any(leg.pending for leg in self.legs)

    def to_dict(self) -> dict[str, object]:
        """JSON-able, like Plan.to_dict: decimals as plain strings."""
        def opt(value: Decimal | None) -> str | None:
            return None if value is None else fmt(value)

        return {
            "quote_asset": self.quote_asset, "quote_total": fmt(self.quote_total),
            "quote_free": fmt(self.quote_free), "spendable": fmt(self.spendable),
            "total_value": opt(self.total_value), "drift": opt(self.drift),
            "buys_pending": self.buys_pending,
            **({"note": PENDING_NOTE} if self.buys_pending else {}),
            "legs": [leg.to_dict() for leg in self.legs],
        }


@dataclass(frozen=True, slots=True)
class _LegCase:
    """A leg ready for the single-pair planner: its snapshot, strategy and context."""

    asset: str
    weight: Decimal
    snapshot: Snapshot
    strategy: StrategyParams
    others_value: Decimal | None

    def evaluate(self, risk: RiskParams, spendable: Decimal | None = None) -> Plan:
        return evaluate(self.snapshot, self.strategy, risk,
                        Context(others_value=self.others_value, spendable=spendable))

    def leg(self, plan: Plan, *, pending: bool = False) -> Leg:
        return Leg(self.asset, self.snapshot.rules.symbol, self.weight, plan, pending)


def _value(s: Snapshot) -> Decimal | None:
    return s.base.total * s.price if s.price is not None and s.price > 0 else None


def _cases(ps: PortfolioSnapshot, strategy: StrategyParams) -> list[_LegCase]:
    snaps = [replace(leg.snapshot, quote=ps.quote, halted=ps.halted or leg.snapshot.halted)
             for leg in ps.legs]
    values = [_value(s) for s in snaps]
    cases = []
    for i, (leg, s) in enumerate(zip(ps.legs, snaps, strict=True)):
        others = [v for j, v in enumerate(values) if j != i]
        known = [v for v in others if v is not None]
        others_value = sum(known, ZERO) if len(known) == len(others) else None
        cases.append(_LegCase(leg.asset, leg.weight, s, replace(strategy, ratio=leg.weight),
                              others_value))
    return cases


def _named_no_price(plan: Plan, ps: PortfolioSnapshot) -> Plan:
    """A leg held because ANOTHER leg's price is unknown: say which."""
    if plan.reason_code is not ReasonCode.NO_PRICE or plan.price is None:
        return plan
    missing = [leg.asset for leg in ps.legs if _value(leg.snapshot) is None]
    return replace(plan, reason=f"HOLD: no usable price for {', '.join(missing)}: the "
                                "portfolio value is unknown")


def _buy_need(plan: Plan, rules_fee: Decimal) -> Decimal:
    """What a BUY plan's quantity costs in quote, taker fee included."""
    assert plan.price is not None
    return plan.quantity * plan.price * (ONE + rules_fee)


def _wanted_buy(case: _LegCase, plan: Plan, risk: RiskParams) -> Plan | None:
    """The leg's BUY as wanted (before the quote limit), when it wants to buy at all: its
    plan is a BUY or holds ``insufficient_balance`` only for want of quote."""
    wants = plan.side is Side.BUY or plan.reason_code is ReasonCode.INSUFFICIENT_BALANCE
    if not wants or plan.price is None or plan.figures.raw_qty is None:
        return None
    qty = wanted_quantity(plan.figures, plan.price, case.snapshot.rules, risk)
    if qty <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = PRECISION_DIGITS
        need = qty * plan.price * (ONE + case.snapshot.rules.taker_fee)
    wanted = case.evaluate(risk, spendable=need)
    return wanted if wanted.side is Side.BUY else None


def evaluate_portfolio(ps: PortfolioSnapshot, strategy: StrategyParams,
                       risk: RiskParams) -> PortfolioPlan:
    """Decide every leg of ``ps`` (see the module docstring)."""
    cases = _cases(ps, strategy)
    legs: list[Leg] = []
    for case in cases:
        plan = _named_no_price(case.evaluate(risk), ps)
        wanted = _wanted_buy(case, plan, risk)
        legs.append(case.leg(plan) if wanted is None else case.leg(wanted, pending=True))
    out = _portfolio_plan(ps, risk, ps.quote.free, cases, legs)
    if out.sells:
        return out
    return size_buy_legs(ps, out, strategy, risk, ps.quote.free)


def _portfolio_plan(ps: PortfolioSnapshot, risk: RiskParams, quote_free: Decimal,
                    cases: Sequence[_LegCase], legs: Sequence[Leg]) -> PortfolioPlan:
    values = [_value(c.snapshot) for c in cases]
    total = None
    if all(v is not None for v in values):
        total = sum((v for v in values if v is not None), ps.quote.total)
    return PortfolioPlan(ps.quote.asset, ps.quote.total, quote_free,
                         quote_free - risk.usdt_reserve, total, tuple(legs))


def buy_budgets(spendable: Decimal, notionals: Sequence[Decimal],
                needs: Sequence[Decimal]) -> list[Decimal]:
    """What each BUY leg may spend: all of ``spendable`` when the legs' ``needs`` (fees
    included) fit in it, else ``spendable * N_i / sum(N)`` rounded down."""
    with localcontext() as ctx:
        ctx.prec = PRECISION_DIGITS
        if sum(needs, ZERO) <= spendable:
            return [spendable for _ in needs]
        total = sum(notionals, ZERO)
        return [div_down(spendable * n, total) if total > 0 else ZERO for n in notionals]


def size_buy_legs(ps: PortfolioSnapshot, plan: PortfolioPlan, strategy: StrategyParams,
                  risk: RiskParams, quote_free: Decimal) -> PortfolioPlan:
    """``plan`` (made by :func:`evaluate_portfolio` from ``ps``) with its pending BUY legs
    sized from ``quote_free``, the quote actually free now (after every SELL leg is final);
    the other legs stay as they are."""
    cases = {c.asset: c for c in _cases(ps, strategy)}
    pending = [leg for leg in plan.legs if leg.pending]
    needs = [_buy_need(leg.plan, cases[leg.asset].snapshot.rules.taker_fee) for leg in pending]
    notionals = [leg.plan.notional for leg in pending]
    budgets = dict(zip((leg.asset for leg in pending),
                       buy_budgets(quote_free - risk.usdt_reserve, notionals, needs),
                       strict=True))
    legs = [leg if not leg.pending else
            cases[leg.asset].leg(cases[leg.asset].evaluate(risk, budgets[leg.asset]))
            for leg in plan.legs]
    return _portfolio_plan(ps, risk, quote_free, list(cases.values()), legs)
