"""The decision of STRATEGY.md: one :class:`Snapshot` in, one :class:`Plan` out. Pure.

``evaluate(snapshot, strategy, risk)`` (plain :class:`StrategyParams` and :class:`RiskParams`,
see params.py) runs, in order: the common checks (halted, no_price,
empty_portfolio, insufficient_data for ``intelligent``, within_threshold), the strategy gate
(``intelligent`` only: trend, cost basis, profit target), sizing (clamp, floor to the precision
grid, minimums) and the risk limits (daily/cooldown/band/staleness, see risk.py).

Reason codes (:class:`ReasonCode`, a StrEnum: each member is its string): every HOLD carries
one of STRATEGY.md's codes (halted, no_price, empty_portfolio, insufficient_data,
within_threshold, no_buy_signal, price_above_cost, no_sell_signal, no_cost_basis,
below_profit_target, below_min_order, core_protected, insufficient_balance, cooldown,
daily_trade_limit, price_out_of_band, stale_market_data). A trade carries
``rebalance_buy`` or ``rebalance_sell``. A delta of exactly 0 is ``within_threshold`` even with
threshold 0 (there is nothing to trade).

Core floor: for ``intelligent``, an unset floor (``Snapshot.core_floor`` None) is initialised to
``core_pct * (base free + locked)`` and returned in ``Plan.core_floor_init`` for the caller to
persist, on every decision that gets past halted/no_price/empty_portfolio (so a halted daemon,
or one whose balances are not loaded yet, never fixes a floor of 0).

Divisions in sizing round toward zero, so a quantity never exceeds what its limit allows; all
arithmetic runs with 50 significant digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from decimal import ROUND_DOWN, Decimal, localcontext
from enum import Enum

from daemon.domain.cost_basis import initial_core_floor
from daemon.domain.models import Balance, ExchangeRules, Side, Trend
from daemon.domain.money import ONE, ZERO, floor_to, fmt, shown
from daemon.domain.params import RiskParams, StrategyParams
from daemon.domain.reasons import ReasonCode
from daemon.domain.risk import RiskInputs, check_risk
from daemon.domain.signals import signal_strength_pct

HUNDRED = Decimal(100)
PRECISION_DIGITS = 50

BUY = "BUY"
SELL = "SELL"
HOLD = "HOLD"
TRADE_CODES = {Side.BUY: ReasonCode.REBALANCE_BUY, Side.SELL: ReasonCode.REBALANCE_SELL}
SKIP_WHY = {
    ReasonCode.PRICE_OUT_OF_BAND: "ma_long unknown",
    ReasonCode.COOLDOWN: "now_ms unknown",
    ReasonCode.STALE_MARKET_DATA: "now_ms unknown",
    ReasonCode.SPREAD_TOO_WIDE: "bid/ask unknown",
}
GUARD_CODES = {Side.BUY: ReasonCode.DRIFT_GUARD_BUY, Side.SELL: ReasonCode.DRIFT_GUARD_SELL}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one decision needs; time is passed in.

    ``ma_short``/``ma_long``/``trend`` None: not enough closed candles (``trend`` may be known
    while the averages are not). ``now_ms`` None skips the time-based risk checks (cooldown,
    stale_market_data); ``last_price_ms`` None skips the staleness check. ``bid``/``ask`` None
    (the best bid and ask unknown) skip the spread check and the spread cost."""

    price: Decimal | None
    base: Balance
    quote: Balance
    rules: ExchangeRules
    ma_short: Decimal | None
    ma_long: Decimal | None
    trend: Trend | None
    cost_basis: Decimal | None
    core_floor: Decimal | None
    trades_today: int
    last_trade_ms: int | None
    now_ms: int | None
    last_price_ms: int | None
    halted: bool = False
    bid: Decimal | None = None
    ask: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Figures:
    """The numbers behind a decision (None where the inputs do not allow computing them).

    ``core_floor`` is the floor the decision used (after initialisation); ``tradeable`` is
    ``max(0, base_free - core_floor)`` for ``intelligent`` and ``base_free`` for ``symmetric``;
    ``spendable`` is ``quote_free - usdt_reserve``; ``raw_qty`` is
    ``rebalance_fraction * |delta| / price``. The cost figures of STRATEGY.md decide nothing:
    ``drift`` is ``base_value / total_value - ratio`` (signed fraction); ``est_fee``,
    ``est_spread_cost`` (bid and ask known) and ``est_cost`` are set on a trade only."""

    strategy: str
    price: Decimal | None
    base_free: Decimal
    base_total: Decimal
    quote_free: Decimal
    quote_total: Decimal
    base_value: Decimal | None
    quote_value: Decimal
    total_value: Decimal | None
    target_value: Decimal | None
    delta: Decimal | None
    delta_pct: Decimal | None
    threshold_value: Decimal | None
    ma_short: Decimal | None
    ma_long: Decimal | None
    trend: Trend | None
    signal_strength_pct: Decimal | None
    cost_basis: Decimal | None
    core_floor: Decimal | None
    tradeable: Decimal
    spendable: Decimal
    raw_qty: Decimal | None
    min_notional_eff: Decimal
    risk_skipped: tuple[ReasonCode, ...] = ()
    drift: Decimal | None = None
    est_fee: Decimal | None = None
    est_spread_cost: Decimal | None = None
    est_cost: Decimal | None = None


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, Enum):  # Trend, Side, ReasonCode: the plain string
        return value.value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Plan:
    """One decision. ``quantity``/``notional`` are 0 for a HOLD. ``core_floor_init`` is set
    when the core floor was unset and this decision initialised it (the caller persists it)."""

    action: str  # "BUY" | "SELL" | "HOLD"
    side: Side | None
    quantity: Decimal
    price: Decimal | None
    notional: Decimal
    reason_code: ReasonCode
    reason: str
    figures: Figures
    core_floor_init: Decimal | None = None

    @property
    def is_trade(self) -> bool:
        return self.side is not None

    def costs_line(self) -> str:
        """``drift +10.00 pts`` for the decision log (a trade's reason already ends with its
        estimated cost)."""
        drift = self.figures.drift
        return "drift unknown" if drift is None else f"drift {drift * HUNDRED:+.2f} pts"

    def to_dict(self) -> dict[str, object]:
        """JSON-able: decimals as plain strings, enums as their plain string values."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "figures":
                out["figures"] = {g.name: _jsonable(getattr(value, g.name)) for g in fields(value)}
            else:
                out[f.name] = _jsonable(value)
        return out


def div_down(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator rounded toward zero at the current precision."""
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        return numerator / denominator


def min_notional_eff(rules: ExchangeRules, risk: RiskParams) -> Decimal:
    """max(config risk.min_notional, exchange min_notional)."""
    return max(risk.min_notional, rules.min_notional)


def _pct(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.01")))


def _px(s: Snapshot, value: Decimal) -> str:
    """A price or average at the symbol's precision (quote_precision), for a reason text."""
    return shown(value, s.rules.quote_precision)


def _money(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN))


# --- valuation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """One leg of a portfolio (STRATEGY.md v3); the defaults are the single pair.
    ``others_value``: the other base assets' value, in V (None: a price of theirs is unknown).
    ``spendable``: what the leg may spend, for ``quote_free - usdt_reserve``."""

    others_value: Decimal | None = ZERO
    spendable: Decimal | None = None


SINGLE_PAIR = Context()


def _figures(
    s: Snapshot, st: StrategyParams, rk: RiskParams, core: Decimal | None, ctx: Context
) -> Figures:
    q, u, p = s.base.total, s.quote.total, s.price
    valid = p is not None and p > 0
    base_value = q * p if valid and p is not None else None
    others = ctx.others_value
    total = base_value + u + others if base_value is not None and others is not None else None
    target = st.ratio * total if total is not None else None
    delta = base_value - target if base_value is not None and target is not None else None
    strength = None
    if s.ma_short is not None and s.ma_long is not None:
        strength = signal_strength_pct(s.ma_short, s.ma_long)
    free = s.base.free
    tradeable = max(ZERO, free - (core or ZERO)) if st.name == "intelligent" else free
    raw = None
    if delta is not None and valid and p is not None:
        raw = st.rebalance_fraction * abs(delta) / p
    return Figures(
        strategy=st.name, price=p, base_free=s.base.free, base_total=q,
        quote_free=s.quote.free, quote_total=u, base_value=base_value, quote_value=u,
        total_value=total, target_value=target, delta=delta,
        delta_pct=delta / total * HUNDRED if delta is not None and total else None,
        threshold_value=st.threshold * total if total is not None else None,
        ma_short=s.ma_short, ma_long=s.ma_long, trend=s.trend, signal_strength_pct=strength,
        cost_basis=s.cost_basis, core_floor=core, tradeable=tradeable,
        spendable=s.quote.free - rk.usdt_reserve if ctx.spendable is None else ctx.spendable,
        raw_qty=raw, min_notional_eff=min_notional_eff(s.rules, rk),
        drift=base_value / total - st.ratio if base_value is not None and total else None,
    )


def _input_hold(s: Snapshot, fig: Figures, ctx: Context) -> tuple[ReasonCode, str] | None:
    """Checks 1-2 of STRATEGY.md (halted, no_price, empty_portfolio)."""
    if s.halted:
        return ReasonCode.HALTED, "trading is halted by the operator's halt switch"
    if s.price is None or s.price <= 0:
        shown = "none" if s.price is None else fmt(s.price)
        return ReasonCode.NO_PRICE, f"no usable price (got {shown})"
    if ctx.others_value is None:
        return ReasonCode.NO_PRICE, "another asset's price is unknown, so is the portfolio value"
    if fig.total_value is None or fig.total_value <= 0:
        worth = fmt(fig.total_value or ZERO)
        return ReasonCode.EMPTY_PORTFOLIO, f"the portfolio is worth {worth}"
    return None


def _signal_hold(
    s: Snapshot, st: StrategyParams, fig: Figures
) -> tuple[ReasonCode, str] | None:
    """Checks 3-4 of STRATEGY.md (insufficient_data, within_threshold)."""
    if st.name == "intelligent" and s.trend is None:
        return ReasonCode.INSUFFICIENT_DATA, (
            f"fewer than ma_long={st.ma_long} closed candles: no trend signal yet"
        )
    assert fig.delta is not None and fig.threshold_value is not None
    assert fig.total_value is not None
    if fig.delta == 0 or abs(fig.delta) < fig.threshold_value:
        return ReasonCode.WITHIN_THRESHOLD, (
            f"base is off target by {_money(fig.delta)} ({_pct(fig.delta_pct or ZERO)}% of "
            f"{_money(fig.total_value)}), inside the threshold {_money(fig.threshold_value)} "
            f"({_pct(st.threshold * HUNDRED)}%)"
        )
    return None


# --- intelligent gate ------------------------------------------------------------------------


def _gate_buy(
    s: Snapshot, st: StrategyParams, price: Decimal
) -> tuple[ReasonCode, str] | None:
    if s.trend is not Trend.BULLISH:
        return ReasonCode.NO_BUY_SIGNAL, (
            f"wants to BUY but the trend is {s.trend.value if s.trend else 'unknown'}, "
            "not BULLISH"
        )
    if s.cost_basis is not None:
        limit = s.cost_basis * (ONE - st.buy_discount)
        if price > limit:
            return ReasonCode.PRICE_ABOVE_COST, (
                f"wants to BUY but price {fmt(price)} is above the cost basis "
                f"{_px(s, s.cost_basis)} less buy_discount {fmt(st.buy_discount)} = "
                f"{_px(s, limit)}"
            )
    return None


def _gate_sell(
    s: Snapshot, st: StrategyParams, price: Decimal
) -> tuple[ReasonCode, str] | None:
    if s.trend is not Trend.BEARISH:
        return ReasonCode.NO_SELL_SIGNAL, (
            f"wants to SELL but the trend is {s.trend.value if s.trend else 'unknown'}, "
            "not BEARISH"
        )
    if s.cost_basis is None:
        return ReasonCode.NO_COST_BASIS, "wants to SELL but the cost basis is unknown"
    limit = s.cost_basis * (ONE + st.profit_target)
    if price < limit:
        return ReasonCode.BELOW_PROFIT_TARGET, (
            f"wants to SELL but price {fmt(price)} is below the cost basis "
            f"{_px(s, s.cost_basis)} plus profit_target {fmt(st.profit_target)} = "
            f"{_px(s, limit)}"
        )
    return None


# --- sizing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sized:
    """Result of sizing: a quantity on the grid, or the hold code explaining why not."""

    quantity: Decimal
    code: ReasonCode | None
    reason: str
    binding: str  # which limit set the quantity: delta, free_base, tradeable, free_quote, ...


def meets_minimums(qty: Decimal, price: Decimal, rules: ExchangeRules, mne: Decimal) -> bool:
    """qty > 0, qty >= min_qty and qty * price >= min_notional_eff (exactly the minimum
    trades)."""
    return qty > 0 and qty >= rules.min_qty and qty * price >= mne


def _clamp(limits: dict[str, Decimal], decimals: int) -> tuple[Decimal, str]:
    name = min(limits, key=lambda k: limits[k])
    return floor_to(max(ZERO, limits[name]), decimals), name


def _too_small(qty: Decimal, price: Decimal, rules: ExchangeRules, mne: Decimal) -> str:
    return (
        f"the order of {fmt(qty)} {rules.base_asset} ({_money(qty * price)} "
        f"{rules.quote_asset}) is below the minimum (min_notional_eff {fmt(mne)} "
        f"{rules.quote_asset}, min_qty {fmt(rules.min_qty)})"
    )


def order_limits(fig: Figures, price: Decimal, rk: RiskParams) -> dict[str, Decimal]:
    """The limits of a quantity besides the balances."""
    assert fig.raw_qty is not None
    return {"delta": fig.raw_qty, "max_order_notional": div_down(rk.max_order_notional, price)}


def wanted_quantity(fig: Figures, price: Decimal, rules: ExchangeRules,
                    rk: RiskParams) -> Decimal:
    """The quantity before the balance limits, on the grid (a portfolio's BUY leg: N_i)."""
    return _clamp(order_limits(fig, price, rk), rules.base_precision)[0]


def size_order(
    side: Side, fig: Figures, price: Decimal, rules: ExchangeRules, rk: RiskParams,
    *, core_binds: bool,
) -> Sized:
    """STRATEGY.md sizing. ``core_binds`` adds the ``tradeable`` limit to a SELL."""
    mne, decimals = fig.min_notional_eff, rules.base_precision
    limits = order_limits(fig, price, rk)
    if side is Side.SELL:
        limits["free_base"] = fig.base_free
        blocker, code = "tradeable", ReasonCode.CORE_PROTECTED
        if core_binds:
            limits["tradeable"] = fig.tradeable
    else:
        blocker, code = "free_quote", ReasonCode.INSUFFICIENT_BALANCE
        cost_per_unit = price * (ONE + rules.taker_fee)
        limits["free_quote"] = div_down(max(ZERO, fig.spendable), cost_per_unit)
    qty, binding = _clamp(limits, decimals)
    if meets_minimums(qty, price, rules, mne):
        return Sized(qty, None, "", binding)
    without = {k: v for k, v in limits.items() if k != blocker}
    unblocked, _ = _clamp(without, decimals)
    if blocker in limits and meets_minimums(unblocked, price, rules, mne):
        if blocker == "tradeable":
            why = (
                f"only {fmt(fig.tradeable)} {rules.base_asset} is free above the core floor "
                f"{fmt(fig.core_floor or ZERO)}: {_too_small(qty, price, rules, mne)}"
            )
        else:
            why = (
                f"free {rules.quote_asset} {fmt(fig.quote_free)} less reserve "
                f"{fmt(rk.usdt_reserve)} is not enough: {_too_small(qty, price, rules, mne)}"
            )
            if fig.spendable != fig.quote_free - rk.usdt_reserve:  # a portfolio's BUY leg
                why = f"this leg's share {_money(fig.spendable)} of the free quote: {why}"
        return Sized(qty, code, why, binding)
    return Sized(qty, ReasonCode.BELOW_MIN_ORDER, _too_small(qty, price, rules, mne), binding)


# --- evaluate --------------------------------------------------------------------------------


def _hold_factory(
    fig: Figures, price: Decimal | None, core_init: Decimal | None
) -> Callable[[ReasonCode, str], Plan]:
    def hold(code: ReasonCode, reason: str) -> Plan:
        return Plan(HOLD, None, ZERO, price, ZERO, code, f"HOLD: {reason}", fig, core_init)

    return hold


def _trade_reason(side: Side, qty: Decimal, price: Decimal, fig: Figures, sized: Sized,
                  rules: ExchangeRules, st: StrategyParams, guard: bool) -> str:
    assert fig.base_value is not None and fig.total_value is not None
    share = fig.base_value / fig.total_value * HUNDRED
    text = "drift guard (trend and cost gates skipped): " if guard else ""
    text += (
        f"{side.value} {fmt(qty)} {rules.base_asset} at {fmt(price)} "
        f"({_money(qty * price)} {rules.quote_asset}): base is {_pct(share)}% of "
        f"{_money(fig.total_value)} {rules.quote_asset}, target {_pct(st.ratio * HUNDRED)}%, "
        f"size limited by {sized.binding}"
    )
    for check in fig.risk_skipped:
        text += f"; {check} not checked ({SKIP_WHY.get(check, 'data missing')})"
    if fig.est_cost is not None:
        text += f"; est. cost {_money(fig.est_cost)} {rules.quote_asset}"
    return text


def _drift_guard(st: StrategyParams, fig: Figures) -> bool:
    """STRATEGY.md v2: ``|delta| >= max_drift * V`` (intelligent only; None disables)."""
    if st.name != "intelligent" or st.max_drift is None:
        return False
    assert fig.delta is not None and fig.total_value is not None
    return abs(fig.delta) >= st.max_drift * fig.total_value


def _with_costs(fig: Figures, qty: Decimal, price: Decimal, s: Snapshot) -> Figures:
    """The cost figures of a trade: the taker fee, and half the spread when it is known."""
    fee = qty * price * s.rules.taker_fee
    spread = None
    if s.bid is not None and s.ask is not None and s.bid > 0 and s.ask > 0:
        spread = qty * (s.ask - s.bid) / 2
    return replace(fig, est_fee=fee, est_spread_cost=spread,
                            est_cost=fee + (spread or ZERO))


def evaluate(snapshot: Snapshot, strategy: StrategyParams, risk: RiskParams,
             context: Context = SINGLE_PAIR) -> Plan:
    """Decide BUY, SELL or HOLD for ``snapshot`` under ``strategy`` and ``risk``; ``context``
    makes it one leg of a portfolio (daemon/domain/portfolio.py)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION_DIGITS
        return _evaluate(snapshot, strategy, risk, context)


def _evaluate(s: Snapshot, st: StrategyParams, rk: RiskParams, ctx: Context) -> Plan:
    intelligent = st.name == "intelligent"
    fig = _figures(s, st, rk, s.core_floor, ctx)
    early = _input_hold(s, fig, ctx)
    if early is not None:  # halted / no price / nothing held: leave the core floor unset
        return _hold_factory(fig, s.price, None)(*early)
    core_init = None
    if intelligent and s.core_floor is None:
        core_init = initial_core_floor(s.base.total, st.core_pct)
        fig = _figures(s, st, rk, core_init, ctx)
    hold = _hold_factory(fig, s.price, core_init)
    common = _signal_hold(s, st, fig)
    if common is not None:
        return hold(*common)
    assert s.price is not None and fig.delta is not None
    price = s.price
    side = Side.SELL if fig.delta > 0 else Side.BUY
    guard = _drift_guard(st, fig)
    if intelligent and not guard:
        gate = (_gate_sell if side is Side.SELL else _gate_buy)(s, st, price)
        if gate is not None:
            return hold(*gate)
    sized = size_order(side, fig, price, s.rules, rk, core_binds=intelligent)
    if sized.code is not None:
        return hold(sized.code, sized.reason)
    inputs = RiskInputs(s.now_ms, s.last_trade_ms, s.trades_today, s.last_price_ms, s.ma_long,
                        s.bid, s.ask)
    verdict = check_risk(price, inputs, rk)
    if verdict.skipped:
        fig = replace(fig, risk_skipped=verdict.skipped)
    if verdict.code is not None:
        return _hold_factory(fig, price, core_init)(verdict.code, verdict.reason or "")
    qty = sized.quantity
    fig = _with_costs(fig, qty, price, s)
    reason = _trade_reason(side, qty, price, fig, sized, s.rules, st, guard)
    code = GUARD_CODES[side] if guard else TRADE_CODES[side]
    return Plan(side.value, side, qty, price, qty * price, code, reason, fig, core_init)

