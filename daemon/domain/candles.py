"""The closed-candle window: rolling SMA short/long, trend and crossover events (STRATEGY.md,
Signals). Pure: no I/O, no clock; times come from the data.

Only CLOSED candles enter the window. A candle is closed when
- the stream moves to a later window while we were connected through the candle
  (``on_window_start``, with the candle's final state decoded by the exchange adapter), or
- REST klines report it and a later window is known to exist (``apply_rest``).

The window always equals what REST klines return: REST rows replace stream-built candles that
differ, missing windows are only ever filled from REST (never invented), and a stream jump over
one or more windows is reported as a ``gap`` so the caller repairs it from REST before the next
push. Real exchange gaps (windows REST does not have) therefore stay gaps.

Averages are kept as running sums (O(1) per appended candle) in a wide decimal context, so each
value equals ``signals.sma`` over the same closes exactly; trend and crossover use
``signals.classify_trend``/``signals.crossover`` so the planner and the window agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import NamedTuple

from daemon.domain.models import Candle, Trend
from daemon.domain.signals import classify_trend, crossover, signal_strength_pct

_SUM_CTX = Context(prec=80)  # running sums stay exact; the division uses the default context
_add, _subtract = _SUM_CTX.add, _SUM_CTX.subtract
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CrossoverEvent:
    """The newest closed candle's trend differs from the previous one's (into BULLISH or
    BEARISH)."""

    open_time_ms: int
    trend: Trend
    previous: Trend
    ma_short: Decimal
    ma_long: Decimal
    close: Decimal

    @property
    def signal_strength_pct(self) -> Decimal:
        return signal_strength_pct(self.ma_short, self.ma_long)


class ClosedCandle(NamedTuple):
    """A candle that has just been evaluated, with the averages AT that candle. (A NamedTuple:
    immutable and about three times cheaper to build than a frozen dataclass; one is built per
    closed candle on the ingest path.)"""

    candle: Candle
    ma_short: Decimal | None
    ma_long: Decimal | None
    trend: Trend | None  # None: fewer than ``long`` closed candles (insufficient_data)
    crossover: CrossoverEvent | None


class WindowUpdate:
    """What one window start or one REST merge changed."""

    __slots__ = ("closed", "corrected", "gap", "ignored_ticks")

    def __init__(self, ignored_ticks: int = 0) -> None:
        self.closed: list[ClosedCandle] = []
        self.gap: tuple[int, int] | None = None  # [from_ms, to_ms): windows to fetch from REST
        self.corrected: list[int] = []  # open times replaced after evaluation
        self.ignored_ticks = ignored_ticks

    @property
    def events(self) -> list[CrossoverEvent]:
        return [c.crossover for c in self.closed if c.crossover is not None]

    def __repr__(self) -> str:
        return (f"WindowUpdate(closed={len(self.closed)}, gap={self.gap}, "
                f"corrected={self.corrected}, ignored_ticks={self.ignored_ticks})")


class CandleWindow:
    def __init__(self, interval_ms: int, short: int, long: int, *,
                 deadband: Decimal = _ZERO, capacity: int | None = None) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        if not 0 < short < long:
            raise ValueError(f"periods must satisfy 0 < short < long, got {short}, {long}")
        if deadband < 0:
            raise ValueError(f"deadband must be >= 0, got {deadband}")
        self.interval_ms = interval_ms
        self.short = short
        self.long = long
        self.deadband = deadband
        self.capacity = max(capacity or 0, 2 * long, 100)
        self._candles: list[Candle] = []
        self._trends: list[Trend | None] = []
        self._sum_s = _ZERO
        self._sum_l = _ZERO
        self._ma_s: Decimal | None = None
        self._ma_l: Decimal | None = None
        self._latest_start_ms: int | None = None
        self._evaluated_until_ms: int | None = None

    # --- read side -------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return len(self._candles) >= self.long

    @property
    def ma_short(self) -> Decimal | None:
        return self._ma_s

    @property
    def ma_long(self) -> Decimal | None:
        return self._ma_l

    @property
    def trend(self) -> Trend | None:
        return self._trends[-1] if self._trends else None

    @property
    def previous_trend(self) -> Trend | None:
        return self._trends[-2] if len(self._trends) > 1 else None

    @property
    def signal_strength_pct(self) -> Decimal | None:
        if self._ma_s is None or self._ma_l is None:
            return None
        return signal_strength_pct(self._ma_s, self._ma_l)

    @property
    def closes(self) -> tuple[Decimal, ...]:
        return tuple(c.close for c in self._candles)

    @property
    def candles(self) -> tuple[Candle, ...]:
        return tuple(self._candles)

    def __len__(self) -> int:
        return len(self._candles)

    @property
    def last_closed(self) -> Candle | None:
        return self._candles[-1] if self._candles else None

    @property
    def latest_start_ms(self) -> int | None:
        """Open time of the newest window known to have started (stream or REST)."""
        return self._latest_start_ms

    def next_expected_ms(self) -> int | None:
        last = self.last_closed
        return None if last is None else last.open_time_ms + self.interval_ms

    # --- stream side -----------------------------------------------------------------------
    def on_window_start(self, start_ms: int, previous: Candle | None) -> WindowUpdate:
        """The stream moved to the window opening at ``start_ms``. ``previous`` is the final
        state of the window it tracked without interruption (None after an interruption or
        at the first push): it closes. Returns what closed, and a ``gap`` when the stream
        skipped windows (the caller repairs it from REST)."""
        update = WindowUpdate()
        latest = self._latest_start_ms
        if latest is None or start_ms > latest:
            self._latest_start_ms = start_ms
        last = self._candles[-1] if self._candles else None
        if previous is not None and (last is None or previous.open_time_ms > last.open_time_ms):
            update.closed.append(self._append(previous))
            last = previous
        if last is not None and start_ms > last.open_time_ms + self.interval_ms:
            update.gap = (last.open_time_ms + self.interval_ms, start_ms)
        return update

    # --- REST side -------------------------------------------------------------------------
    def apply_rest(self, rows: Sequence[Candle], *, emit: bool = True) -> WindowUpdate:
        """Merge REST klines. Rows at or after the newest known window start are still forming
        and are skipped. With ``emit`` False (backfill) candles are taken as history: no
        ClosedCandle reports, no events."""
        update = WindowUpdate()
        if rows:
            newest = rows[-1].open_time_ms
            if self._latest_start_ms is None or newest > self._latest_start_ms:
                self._latest_start_ms = newest
        latest = self._latest_start_ms
        closed = [r for r in rows if latest is not None and r.open_time_ms < latest]
        if not closed:
            return update
        last = self.last_closed
        if last is None or closed[0].open_time_ms > last.open_time_ms:
            for c in closed:  # fast path: pure append
                self._append_reported(c, emit, update)
            return update
        self._merge(closed, emit, update)
        return update

    def _append_reported(self, candle: Candle, emit: bool, update: WindowUpdate) -> None:
        closed = self._append(candle)
        if emit:
            update.closed.append(closed)
        else:
            self._evaluated_until_ms = candle.open_time_ms

    def _merge(self, rows: Iterable[Candle], emit: bool, update: WindowUpdate) -> None:
        by_time = {c.open_time_ms: c for c in self._candles}
        first_changed: int | None = None
        for row in rows:
            old = by_time.get(row.open_time_ms)
            if old == row:
                continue
            oldest = self._candles[0].open_time_ms if self._candles else None
            if oldest is not None and row.open_time_ms < oldest and old is None:
                continue  # older than what we keep: irrelevant to the averages
            by_time[row.open_time_ms] = row
            if self._evaluated_until_ms is not None and row.open_time_ms <= \
                    self._evaluated_until_ms:
                update.corrected.append(row.open_time_ms)
            if first_changed is None or row.open_time_ms < first_changed:
                first_changed = row.open_time_ms
        if first_changed is None:
            return
        ordered = [by_time[t] for t in sorted(by_time)]
        self._rebuild(ordered, first_changed, emit, update)

    def _rebuild(self, ordered: list[Candle], first_changed: int, emit: bool,
                 update: WindowUpdate) -> None:
        """Re-evaluate from the first changed open time; the unchanged prefix keeps its
        trends, corrected candles that were already evaluated raise no event again."""
        prefix = sum(1 for c in ordered if c.open_time_ms < first_changed)
        kept_trends = self._trends[:prefix]
        self._candles, self._trends = [], []
        self._sum_s = self._sum_l = _ZERO
        self._ma_s = self._ma_l = None
        for c in ordered[:prefix]:
            self._candles.append(c)
            self._roll(c)
        self._trends = kept_trends
        evaluated = self._evaluated_until_ms
        for c in ordered[prefix:]:
            if evaluated is not None and c.open_time_ms <= evaluated:
                self._append(c, allow_event=False)
            else:
                self._append_reported(c, emit, update)

    # --- core ------------------------------------------------------------------------------
    def _roll(self, candle: Candle) -> None:
        candles = self._candles
        n = len(candles)
        short, long = self.short, self.long
        close = candle.close
        sum_s = _add(self._sum_s, close)
        if n > short:
            sum_s = _subtract(sum_s, candles[n - 1 - short].close)
        sum_l = _add(self._sum_l, close)
        if n > long:
            sum_l = _subtract(sum_l, candles[n - 1 - long].close)
        self._sum_s, self._sum_l = sum_s, sum_l
        if n >= long:
            self._ma_s = sum_s / short
            self._ma_l = sum_l / long

    def _append(self, candle: Candle, *, allow_event: bool = True) -> ClosedCandle:
        candles, trends = self._candles, self._trends
        candles.append(candle)
        self._roll(candle)
        if allow_event:
            self._evaluated_until_ms = candle.open_time_ms
        if len(candles) < self.long:
            trends.append(None)
            self._trim()
            return ClosedCandle(candle, None, None, None, None)
        ma_s, ma_l = self._ma_s, self._ma_l
        assert ma_s is not None and ma_l is not None
        trend = classify_trend(ma_s, ma_l, self.deadband)
        previous = trends[-1] if trends else None
        trends.append(trend)
        event: CrossoverEvent | None = None
        if allow_event and previous is not None:
            into = crossover(previous, trend)
            if into is not None:
                event = CrossoverEvent(candle.open_time_ms, into, previous, ma_s, ma_l,
                                       candle.close)
        self._trim()
        return ClosedCandle(candle, ma_s, ma_l, trend, event)

    def _trim(self) -> None:
        if len(self._candles) > 2 * self.capacity:
            cut = len(self._candles) - self.capacity
            del self._candles[:cut]
            del self._trends[:cut]


def offline_series(candles: Sequence[Candle], short: int, long: int,
                   deadband: Decimal = _ZERO) -> list[ClosedCandle]:
    """Evaluate a whole REST series from scratch with ``signals.sma`` semantics: the reference
    the rolling window must reproduce (used by tests, the backtest and benches)."""
    from daemon.domain.signals import sma

    closes: list[Decimal] = []
    out: list[ClosedCandle] = []
    previous: Trend | None = None
    for c in candles:
        closes.append(c.close)
        ml = sma(closes, long)
        ms = None if ml is None else sma(closes, short)
        trend = None if ms is None or ml is None else classify_trend(ms, ml, deadband)
        event = None
        if trend is not None and previous is not None:
            into = crossover(previous, trend)
            if into is not None:
                assert ms is not None and ml is not None
                event = CrossoverEvent(c.open_time_ms, into, previous, ms, ml, c.close)
        out.append(ClosedCandle(c, ms, ml, trend, event))
        previous = trend
    return out
