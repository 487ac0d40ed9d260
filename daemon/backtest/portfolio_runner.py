"""The portfolio replay (STRATEGY.md v3): several series aligned by time through the daemon's
own portfolio decision (``evaluate_portfolio`` / ``size_buy_legs``), fill model and booking
rule, one set of books per asset.

It is the single-pair replay (``runner``) with several legs, step for step:
1. Each pair's candles close into its OWN window (``runner.signals``: its averages, trend and
   crossovers from its own file, gaps kept). The replay steps through the aligned times
   (``align``: the open times every series has).
2. Evaluations run at the same instants as in the single-pair replay: every
   ``schedule.interval_s`` aligned to the epoch (one due at a close decides on the window
   before that candle), and at the close of an aligned candle where ANY pair made a crossover;
   triggers while orders are followed coalesce into one evaluation when they end.
3. An evaluation builds one ``PortfolioSnapshot``: per leg the snapshot the single-pair replay
   builds (its close, averages, trend, cost basis, core floor, trade counters, freshness), the
   quote balance shared. ``evaluate_portfolio`` decides every leg.
4. SELL legs go first, each through its pair's fill model at the decision time; once every one
   is done (the latest end), the pending BUY legs are sized by ``size_buy_legs`` from the quote
   then free and go through their fill models. Without SELL legs the BUY legs were sized at once
   and go at the decision time. Fills are booked per asset with ``book_fills``.
5. The portfolio at each aligned close is one :class:`PortfolioPoint`.

Each asset's cost basis starts at its first replayed close (``strategy.initial_cost_basis``,
one price, is used only when the portfolio has one asset). A one-asset portfolio replays
exactly as the single-pair backtest of its pair.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from daemon.backtest.align import PairCoverage
from daemon.backtest.fills import CloseFills, SimFills, Wallet, bars_of, market_model
from daemon.backtest.portfolio_result import (
    LegData,
    PortfolioPoint,
    PortfolioResult,
    PortfolioRunData,
    summarize_portfolio,
)
from daemon.backtest.result import Decision, TradeMark
from daemon.backtest.runner import signals
from daemon.backtest.spec import StrategySpec
from daemon.domain.books import Booked, TradeCounters, book_fills
from daemon.domain.candles import ClosedCandle
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Balance, Candle, ExchangeRules, Fill, Side
from daemon.domain.planner import Plan, Snapshot
from daemon.domain.portfolio import (
    LegInput,
    PortfolioPlan,
    PortfolioSnapshot,
    evaluate_portfolio,
    size_buy_legs,
)
from daemon.domain.pricing import PriceReference
from daemon.runtime.scheduler import next_aligned

ZERO = Decimal(0)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class LegMarket:
    """One base asset of the replay: its target, its pair's rules and candles (the leading
    ``warmup`` ones only fill its window) and its starting quantity."""

    asset: str
    weight: Decimal
    rules: ExchangeRules
    candles: tuple[Candle, ...]
    warmup: int
    start_base: Decimal


@dataclass(frozen=True, slots=True)
class PortfolioReplay:
    quote_asset: str
    legs: tuple[LegMarket, ...]
    times: tuple[int, ...]  # the aligned open times replayed
    interval_ms: int
    start_quote: Decimal
    fill_model: str  # "sim" | "close"
    coverage: tuple[PairCoverage, ...] = ()  # per pair: candles, gaps, left out (align)
    missing: int = 0  # candle windows within the aligned range not replayed


@dataclass(frozen=True, slots=True)
class _View:
    """One leg at an instant: the candle whose close is its price, the next candle of its
    file (None at its end) and the window the averages and trend come from."""

    closed: ClosedCandle
    nxt: Candle | None
    window: ClosedCandle


class _Leg:
    """One asset's books, fill model and records within a run."""

    def __init__(self, market: LegMarket, series: list[ClosedCandle], fill_model: str,
                 interval_ms: int, cost_basis: Decimal, spec: StrategySpec) -> None:
        self.market = market
        self.rules = market.rules
        self.series = series
        self.pos = {c.candle.open_time_ms: i for i, c in enumerate(series)}
        self.wallet = Wallet(market.start_base, ZERO)
        self.cost = CostBasis.initial(cost_basis, market.start_base)
        self.core_floor: Decimal | None = None
        self.core_credit = ZERO
        self.counters = TradeCounters()
        self.decisions: list[Decision] = []
        self.trades: list[TradeMark] = []
        self.fills: CloseFills | SimFills
        if fill_model == "sim":
            market_path = market_model(bars_of(market.candles), interval_ms,
                                       market.rules.quote_precision)
            self.fills = SimFills(self.rules, self.wallet, market_path)
        else:
            self.fills = CloseFills(self.rules, self.wallet)
        self.spec = spec

    def view(self, open_ms: int, *, before: bool = False) -> _View:
        """At the close of its candle opening at ``open_ms``; ``before``: the window as it
        stood before that candle closed (a scheduled evaluation at that close)."""
        i = self.pos[open_ms]
        closed = self.series[i]
        nxt = self.series[i + 1].candle if i + 1 < len(self.series) else None
        window = closed
        if before:
            window = self.series[i - 1] if i else ClosedCandle(closed.candle, None, None, None,
                                                               None)
        return _View(closed, nxt, window)

    def snapshot(self, t: int, view: _View, quote: Balance) -> Snapshot:
        c, signal = view.closed.candle, view.window
        fresh = view.nxt is not None and view.nxt.open_time_ms <= t
        return Snapshot(
            price=c.close, base=Balance(self.rules.base_asset, self.wallet.base, ZERO),
            quote=quote, rules=self.rules, ma_short=signal.ma_short, ma_long=signal.ma_long,
            trend=signal.trend, cost_basis=self.cost.avg_cost, core_floor=self.core_floor,
            trades_today=self.counters.trades_on(t), last_trade_ms=self.counters.last_trade_ms,
            now_ms=t, last_price_ms=t if fresh else c.close_time_ms)

    def decided(self, t: int, trigger: str, plan: Plan) -> None:
        if plan.core_floor_init is not None:
            self.core_floor = plan.core_floor_init
        self.decisions.append(Decision(t, trigger, plan.action, plan.quantity,
                                       str(plan.reason_code)))

    def execute(self, plan: Plan, t: int, view: _View, quote: Decimal) -> tuple[int, Decimal]:
        """The order of ``plan`` placed at ``t`` with ``quote`` free; (its end, quote after)."""
        assert plan.side is not None
        side, price, signal = plan.side, view.closed.candle.close, view.window
        self.wallet.quote = quote
        if isinstance(self.fills, SimFills):
            self.fills.sync_wallet()
        done = self.fills.execute(
            side, plan.quantity, time_ms=t, price=price,
            reference=PriceReference(price, signal.ma_short, signal.ma_long),
            ex=self.spec.execution, risk=self.spec.risk)
        if done.refusal is not None:
            self.decisions.append(Decision(t, "order_price_check", "HOLD", ZERO,
                                           str(done.refusal.code)))
        if done.fills:
            self._book(plan, side, t, done.fills)
        return done.end_ms, self.wallet.quote

    def _book(self, plan: Plan, side: Side, t: int, done: Sequence[Fill]) -> None:
        self.cost, self.core_floor, self.counters, self.core_credit = book_fills(
            self.cost, self.core_floor, self.counters, done, core_credit=self.core_credit,
            first_fill_of_order=True, now_ms=done[0].time_ms,
            core_pct=self.spec.strategy.core_pct, base_asset=self.rules.base_asset,
            quote_asset=self.rules.quote_asset)
        qty = sum((f.qty for f in done), ZERO)
        quote = sum((f.quote_qty for f in done), ZERO)
        fee = sum((f.fee if f.fee_asset == self.rules.quote_asset else f.fee * f.price
                   for f in done), ZERO)
        self.trades.append(TradeMark(t, side.value, qty, quote / qty, quote, fee,
                                     str(plan.reason_code)))

    def data(self) -> LegData:
        return LegData(self.market.asset, self.rules.symbol, self.market.weight,
                       tuple(self.decisions), tuple(self.trades), self.wallet.base,
                       Booked(self.cost, self.core_floor, self.counters, self.core_credit))


class _Run:
    """One strategy's portfolio replay."""

    def __init__(self, spec: StrategySpec, replay: PortfolioReplay,
                 series: Sequence[list[ClosedCandle]]) -> None:
        self.spec = spec
        self.replay = replay
        self.quote = replay.start_quote
        first = replay.times[0]
        self.legs = []
        for market, s in zip(replay.legs, series, strict=True):
            cost = next(c.candle.close for c in s if c.candle.open_time_ms == first)
            if len(replay.legs) == 1 and spec.initial_cost_basis is not None:
                cost = spec.initial_cost_basis  # one price: only meaningful for one asset
            self.legs.append(_Leg(market, s, replay.fill_model, replay.interval_ms, cost,
                                  spec))
        self.points: list[PortfolioPoint] = []
        self.busy_until = 0
        self._pending: str | None = None

    def run(self, progress: Callable[[int], None]) -> None:
        times, spec, legs = self.replay.times, self.spec, self.legs
        if spec.kind == "hold":
            for open_ms in times:
                self._point([leg.view(open_ms) for leg in legs])
            progress(len(times))
            return
        step_ms = spec.interval_s * 1000
        first_close = legs[0].view(times[0]).closed.candle.close_time_ms
        next_t = int(next_aligned((first_close - 1) / 1000, spec.interval_s)) * 1000
        views: list[_View] = []
        for j, open_ms in enumerate(times):
            views = [leg.view(open_ms) for leg in legs]
            t0 = views[0].closed.candle.close_time_ms
            horizon = (times[j + 1] + self.replay.interval_ms if j + 1 < len(times)
                       else t0 + 1)
            if self._pending is not None and self.busy_until < t0:
                self._follow_up([leg.view(times[j - 1]) for leg in legs])
            if next_t == t0:  # as the single-pair replay: the window before this candle
                self._evaluate(t0, spec.trigger, [leg.view(open_ms, before=True)
                                                  for leg in legs])
                next_t += step_ms
            if spec.on_crossover and any(v.closed.crossover is not None for v in views):
                self._evaluate(t0, "crossover", views)
            while next_t < horizon:
                if self._pending is not None and self.busy_until < next_t:
                    self._follow_up(views)
                self._evaluate(next_t, spec.trigger, views)
                next_t += step_ms
            self._point(views)
            progress(1)
        if self._pending is not None:
            self._follow_up(views)

    def _follow_up(self, views: list[_View]) -> None:
        trigger, self._pending = self._pending, None
        assert trigger is not None
        self._evaluate(self.busy_until, trigger, views)

    def _point(self, views: list[_View]) -> None:
        closes = tuple(v.closed.candle.close for v in views)
        held = tuple(leg.wallet.base * c for leg, c in zip(self.legs, closes, strict=True))
        value = self.quote + sum(held, ZERO)
        weights = tuple(h / value if value > 0 else ZERO for h in held)
        self.points.append(PortfolioPoint(views[0].closed.candle.close_time_ms, closes,
                                          weights, value))

    def _evaluate(self, t: int, trigger: str, views: list[_View]) -> None:
        if t < self.busy_until:  # orders are followed: the daemon coalesces the trigger
            if self._pending is None:
                self._pending = trigger
            return
        spec, legs = self.spec, self.legs
        quote = Balance(self.replay.quote_asset, self.quote, ZERO)
        ps = PortfolioSnapshot(quote, tuple(
            LegInput(leg.market.asset, leg.market.weight, leg.snapshot(t, v, quote))
            for leg, v in zip(legs, views, strict=True)))
        plan = evaluate_portfolio(ps, spec.strategy, spec.risk)
        for leg, lp in zip(legs, plan.legs, strict=True):
            if not lp.pending:
                leg.decided(t, trigger, lp.plan)
        ends = self._place(plan, Side.SELL, t, views)
        buy_at = max(ends, default=t)
        if plan.buys_pending:  # sized now, from the quote free after every sell
            pending = [lp.pending for lp in plan.legs]
            plan = size_buy_legs(ps, plan, spec.strategy, spec.risk, self.quote)
            for leg, lp, was in zip(legs, plan.legs, pending, strict=True):
                if was:
                    leg.decided(t, trigger, lp.plan)
        ends += self._place(plan, Side.BUY, buy_at, views)
        if ends:
            self.busy_until = max(ends)

    def _place(self, plan: PortfolioPlan, side: Side, t: int, views: list[_View]) -> list[int]:
        """The orders of ``plan``'s ``side`` legs placed at ``t``; their end times."""
        ends = []
        for leg, lp, view in zip(self.legs, plan.legs, views, strict=True):
            if lp.plan.side is side:
                end, self.quote = leg.execute(lp.plan, t, view, self.quote)
                ends.append(end)
        return ends

    def data(self) -> PortfolioRunData:
        return PortfolioRunData(self.spec.name, tuple(self.points),
                                tuple(leg.data() for leg in self.legs), self.quote)


def run_portfolio(replay: PortfolioReplay, specs: Sequence[StrategySpec],
                  progress: Progress | None = None) -> PortfolioResult:
    """Every spec replayed on the same aligned series and fill model, the hold baseline
    added when not among them (as ``runner.run_backtest``)."""
    if not any(s.kind == "hold" for s in specs):
        specs = [*specs, replace(specs[0], name="hold", kind="hold", on_crossover=False)]
    total = len(replay.times) * len(specs)
    done = 0

    def step(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None and (k > 1 or done % 2000 == 0 or done == total):
            progress(done, total)

    cache: dict[tuple[str, int, int, Decimal], list[ClosedCandle]] = {}
    runs: list[PortfolioRunData] = []
    collecting = gc.isenabled()
    gc.disable()  # as run_backtest: many long-lived values, no cycles
    try:
        for spec in specs:
            st = spec.strategy
            series = []
            for leg in replay.legs:
                key = (leg.asset, st.ma_short, st.ma_long, st.deadband)
                if key not in cache:
                    cache[key] = signals(leg.candles, spec, replay.interval_ms)
                series.append(cache[key])
            run = _Run(spec, replay, series)
            run.run(step)
            runs.append(run.data())
    finally:
        if collecting:
            gc.enable()
    return summarize_portfolio(replay_facts(replay), runs, replay.coverage, replay.missing)


def replay_facts(replay: PortfolioReplay) -> tuple[str, str, int, int, int, Decimal]:
    """(quote asset, fill model, aligned candles, first open, last close, starting value)."""
    first = replay.times[0]
    start = replay.start_quote
    for leg in replay.legs:
        close = next(c.close for c in leg.candles if c.open_time_ms == first)
        start += leg.start_base * close
    return (replay.quote_asset, replay.fill_model, len(replay.times), first,
            replay.times[-1] + replay.interval_ms, start)
