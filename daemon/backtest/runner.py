"""The replay: candles through the daemon's own decision and booking code, one run per strategy.

For each candle, in time order, with the books of the run:
1. The candle closes into the daemon's ``CandleWindow`` (closed candles only; MAs, trend and
   crossover events; a missing candle stays missing).
2. Evaluations due in candle time ``[its close, the next candle's close)`` run, in order: every
   ``schedule.interval_s`` aligned to the epoch as the daemon's scheduler aligns them
   (``next_aligned``), and, when ``schedule.evaluate_on_crossover``, one at the close of a
   candle that made a crossover (after the scheduled one of that instant: the daemon's
   schedule fires at the boundary, the stream closes the candle just after, so a scheduled
   evaluation at a candle's close decides on the averages and trend of the window before
   that candle, at its close as the latest price). Evaluations due while the order of an
   earlier one is still followed coalesce, as in the daemon's scheduler, into ONE evaluation
   right after that order ends (named after the first of them), on the window then.
3. Each evaluation builds the planner's ``Snapshot`` as ``daemon.runtime.snapshots`` does:
   price = the latest close, now_ms = candle time, the run's balances, cost basis, core floor
   and trade counters; ``planner.evaluate`` (with the risk limits) decides; an unset core
   floor is initialised from the plan. The last price counts as fresh while a candle is
   forming (none during a gap in the data).
4. A BUY/SELL goes to the fill model (``fills``); its fills are booked with the ledger's own
   rule (``daemon.domain.books.book_fills``).
5. The portfolio at the candle's close is one ``Point``.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from daemon.backtest.fills import CloseFills, SimFills, Wallet, bars_of, market_model
from daemon.backtest.result import BacktestResult, Decision, Point, StrategyRun, TradeMark
from daemon.backtest.spec import StrategySpec
from daemon.backtest.summary import RunData, summarize
from daemon.domain.books import Booked, TradeCounters, book_fills
from daemon.domain.candles import CandleWindow, ClosedCandle
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Balance, Candle, ExchangeRules, Side
from daemon.domain.planner import Plan, Snapshot, evaluate
from daemon.domain.pricing import PriceReference
from daemon.runtime.scheduler import next_aligned

Progress = Callable[[int, int], None]  # (candles done, candles in all runs)
ZERO = Decimal(0)
PROGRESS_EVERY = 2000


@dataclass(frozen=True, slots=True)
class Replay:
    """The market and the start of every run."""

    rules: ExchangeRules
    candles: tuple[Candle, ...]
    interval_ms: int
    gaps: int
    start_base: Decimal
    start_quote: Decimal
    fill_model: str  # "sim" | "close"
    # leading candles that only fill the window, as the daemon's backfill does before it
    # decides: no evaluation, no point; the replay (and its first close) starts after them
    warmup: int = 0


def signals(candles: Sequence[Candle], spec: StrategySpec, interval_ms: int
            ) -> list[ClosedCandle]:
    """Each candle as the daemon's window closes it (averages, trend, crossover at it): the
    whole file merged as REST rows once a later window is known to have started."""
    st = spec.strategy
    window = CandleWindow(interval_ms, st.ma_short, st.ma_long, deadband=st.deadband)
    window.on_window_start(candles[-1].close_time_ms, None)
    return window.apply_rest(candles).closed


class _Run:
    """One strategy's replay: its books, its fill model, what it records."""

    def __init__(self, spec: StrategySpec, replay: Replay, series: list[ClosedCandle]) -> None:
        self.spec = spec
        self.rules = replay.rules
        self.series = series
        self.wallet = Wallet(replay.start_base, replay.start_quote)
        first_close = replay.candles[replay.warmup].close
        self.cost = CostBasis.initial(spec.initial_cost_basis or first_close, replay.start_base)
        self.core_floor: Decimal | None = None
        self.core_credit = ZERO  # base sold, not bought back (STRATEGY.md v2)
        self.counters = TradeCounters()
        self.points: list[Point] = []
        self.decisions: list[Decision] = []
        self.trades: list[TradeMark] = []
        self.busy_until = 0
        self._pending: str | None = None  # a trigger that came while an order was followed
        self.warmup = replay.warmup
        self._close, self._base, self._quote = ZERO, ZERO, ZERO  # what _point last valued
        self._weight, self._value = ZERO, ZERO
        self._balances = (Balance(self.rules.base_asset, self.wallet.base, ZERO),
                          Balance(self.rules.quote_asset, self.wallet.quote, ZERO))
        self.fills: CloseFills | SimFills
        if replay.fill_model == "sim":
            market = market_model(bars_of(replay.candles), replay.interval_ms,
                                  replay.rules.quote_precision)
            self.fills = SimFills(self.rules, self.wallet, market)
        else:
            self.fills = CloseFills(self.rules, self.wallet)

    def run(self, progress: Callable[[int], None]) -> None:
        if self.spec.kind == "hold":
            self._hold()
            progress(len(self.series) - self.warmup)
            return
        series, spec = self.series, self.spec
        interval_ms = spec.interval_s * 1000
        # the first scheduled instant at or after the first close, aligned as the daemon's
        next_t = int(next_aligned((series[self.warmup].candle.close_time_ms - 1) / 1000,
                                  spec.interval_s)) * 1000
        n = len(series)
        for i, closed in enumerate(series):
            if i < self.warmup:
                continue
            t0 = closed.candle.close_time_ms
            nxt = series[i + 1].candle if i + 1 < n else None
            horizon = nxt.close_time_ms if nxt is not None else t0 + 1
            if self._pending is not None and self.busy_until < t0:
                self._follow_up(series[i - 1], closed.candle)
            if next_t == t0:
                # The daemon's schedule fires as this candle closes, before its stream reports
                # it closed (with the first push of the next window, which the exchange sends
                # after that instant): it decides on the window as it stood, at the latest
                # trade price (taken as this close).
                before = series[i - 1] if i else ClosedCandle(closed.candle, None, None, None,
                                                               None)
                self._evaluate(t0, spec.trigger, closed, nxt, before)
                next_t += interval_ms
            if closed.crossover is not None and spec.on_crossover:
                self._evaluate(t0, "crossover", closed, nxt)
            while next_t < horizon:
                if self._pending is not None and self.busy_until < next_t:
                    self._follow_up(closed, nxt)
                self._evaluate(next_t, spec.trigger, closed, nxt)
                next_t += interval_ms
            self._point(closed)
            if (i - self.warmup) % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                progress(PROGRESS_EVERY)
        if self._pending is not None:
            self._follow_up(series[-1], None)
        progress((n - self.warmup) % PROGRESS_EVERY)

    def _follow_up(self, closed: ClosedCandle, nxt: Candle | None) -> None:
        """The one evaluation the daemon runs right after an order it followed ends, for the
        triggers that came meanwhile (the first one's name kept), on the window then."""
        trigger, self._pending = self._pending, None
        assert trigger is not None
        self._evaluate(self.busy_until, trigger, closed, nxt)

    def _point(self, closed: ClosedCandle) -> None:
        c = closed.candle
        w = self.wallet
        # Balances change only by trading (a new Decimal each time): the same books at the
        # same close have the same figures.
        if c.close != self._close or w.base is not self._base or w.quote is not self._quote:
            self._close, self._base, self._quote = c.close, w.base, w.quote
            base_value = w.base * c.close
            value = base_value + w.quote
            self._weight, self._value = (base_value / value if value > 0 else ZERO), value
        self.points.append(Point(c.close_time_ms, c.close, closed.ma_short, closed.ma_long,
                                 self._weight, self._value))

    def _hold(self) -> None:
        """Buy and hold: never evaluates; its value at each close."""
        base, quote = self.wallet.base, self.wallet.quote
        figures: dict[Decimal, tuple[Decimal, Decimal]] = {}
        append = self.points.append
        for closed in itertools.islice(self.series, self.warmup, None):
            c = closed.candle
            fig = figures.get(c.close)
            if fig is None:
                value = base * c.close + quote
                fig = figures[c.close] = (base * c.close / value if value > 0 else ZERO, value)
            append(Point(c.close_time_ms, c.close, closed.ma_short, closed.ma_long, fig[0],
                         fig[1]))

    def _evaluate(self, t: int, trigger: str, closed: ClosedCandle, nxt: Candle | None,
                  window: ClosedCandle | None = None) -> None:
        """Decide at ``t`` on the price of ``closed`` and the averages and trend of ``window``
        (default: ``closed``, the window holding it)."""
        if t < self.busy_until:  # an order is followed: the daemon coalesces the trigger
            if self._pending is None:
                self._pending = trigger
            return
        c = closed.candle
        signal = closed if window is None else window
        fresh = nxt is not None and nxt.open_time_ms <= t  # a candle is forming at t
        rules, w = self.rules, self.wallet
        if self._balances[0].free != w.base or self._balances[1].free != w.quote:
            self._balances = (Balance(rules.base_asset, w.base, ZERO),
                              Balance(rules.quote_asset, w.quote, ZERO))
        base, quote = self._balances
        snapshot = Snapshot(
            price=c.close, base=base, quote=quote, rules=rules,
            ma_short=signal.ma_short, ma_long=signal.ma_long, trend=signal.trend,
            cost_basis=self.cost.avg_cost, core_floor=self.core_floor,
            trades_today=self.counters.trades_on(t), last_trade_ms=self.counters.last_trade_ms,
            now_ms=t, last_price_ms=t if fresh else c.close_time_ms)
        plan = evaluate(snapshot, self.spec.strategy, self.spec.risk)
        if plan.core_floor_init is not None:
            self.core_floor = plan.core_floor_init
        self.decisions.append(Decision(t, trigger, plan.action, plan.quantity,
                                       str(plan.reason_code)))
        if plan.side is not None:
            self._execute(plan, plan.side, t, closed, signal)

    def _execute(self, plan: Plan, side: Side, t: int, closed: ClosedCandle,
                 signal: ClosedCandle) -> None:
        price = closed.candle.close
        done = self.fills.execute(
            side, plan.quantity, time_ms=t, price=price,
            reference=PriceReference(price, signal.ma_short, signal.ma_long),
            ex=self.spec.execution, risk=self.spec.risk)
        self.busy_until = done.end_ms
        if done.refusal is not None:
            self.decisions.append(Decision(t, "order_price_check", "HOLD", ZERO,
                                           str(done.refusal.code)))
        if not done.fills:
            return
        booked = book_fills(self.cost, self.core_floor, self.counters, done.fills,
                            core_credit=self.core_credit,
                            first_fill_of_order=True, now_ms=done.fills[0].time_ms,
                            core_pct=self.spec.strategy.core_pct,
                            base_asset=self.rules.base_asset, quote_asset=self.rules.quote_asset)
        self.cost, self.core_floor, self.counters, self.core_credit = booked
        qty = sum((f.qty for f in done.fills), ZERO)
        quote = sum((f.quote_qty for f in done.fills), ZERO)
        fee_quote = sum((f.fee if f.fee_asset == self.rules.quote_asset else f.fee * f.price
                         for f in done.fills), ZERO)
        self.trades.append(TradeMark(t, side.value, qty, quote / qty, quote, fee_quote,
                                     str(plan.reason_code)))

    def data(self) -> RunData:
        return RunData(self.spec.name, self.spec.strategy.ratio, tuple(self.points),
                       tuple(self.decisions), tuple(self.trades), self.wallet.base,
                       self.wallet.quote, self.core_floor,
                       Booked(self.cost, self.core_floor, self.counters))


def run_backtest(replay: Replay, specs: Sequence[StrategySpec],
                 progress: Progress | None = None) -> BacktestResult:
    """Every spec replayed on the same candles and fill model (the first spec is the
    config's: its threshold is the band the report draws); the hold baseline is added when
    not among them (return_vs_hold needs it)."""
    if not any(s.kind == "hold" for s in specs):
        specs = [*specs, replace(specs[0], name="hold", kind="hold", on_crossover=False)]
    total = (len(replay.candles) - replay.warmup) * len(specs)
    done = 0

    def step(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    cache: dict[tuple[int, int, Decimal], list[ClosedCandle]] = {}
    runs: list[RunData] = []
    collecting = gc.isenabled()
    gc.disable()  # millions of long-lived values and no cycles: the collector only costs
    try:
        for spec in specs:
            st = spec.strategy
            key = (st.ma_short, st.ma_long, st.deadband)
            if key not in cache:
                cache[key] = signals(replay.candles, spec, replay.interval_ms)
            run = _Run(spec, replay, cache[key])
            run.run(step)
            runs.append(run.data())
        return _result(replay, specs[0], runs)
    finally:
        if collecting:
            gc.enable()


def _result(replay: Replay, config: StrategySpec, runs: list[RunData]) -> BacktestResult:
    first = replay.candles[replay.warmup]
    initial = replay.start_base * first.close + replay.start_quote
    hold = next(r for r in runs if r.name == "hold")
    hold_summary = summarize(hold, initial, None)
    out = [StrategyRun(r.name, r.points, r.decisions, r.trades,
                       hold_summary if r is hold else summarize(r, initial,
                                                                hold_summary.return_pct),
                       r.final_base, r.final_quote, r.core_floor, r.books) for r in runs]
    return BacktestResult(
        symbol=replay.rules.symbol, base_asset=replay.rules.base_asset,
        quote_asset=replay.rules.quote_asset, target_ratio=config.strategy.ratio,
        threshold=config.strategy.threshold, fill_model=replay.fill_model,
        candles=len(replay.candles) - replay.warmup, gaps=replay.gaps,
        start_ms=first.open_time_ms,
        end_ms=replay.candles[-1].close_time_ms, runs=tuple(out))
