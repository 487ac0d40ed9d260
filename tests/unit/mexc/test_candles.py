"""The closed-candle window against an offline recomputation of the same REST series. Stream
candles go the production way: protobuf kline push frames into ``MarketFeed.ingest`` (the MEXC
adapter's decoder, then ``CandleWindow.on_window_start``); REST repairs into ``apply_rest``."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExchangeSettings, Settings
from daemon.domain.candles import CandleWindow, ClosedCandle, offline_series
from daemon.domain.models import Candle, Trend
from daemon.domain.signals import sma
from daemon.runtime.market_feed import MarketFeed
from tests.support.market_series import load_csv, push, pushes_for

FIVE_MIN = 300_000


def new_feed(capacity: int = 100) -> MarketFeed:
    """A Min5 feed with MA 7/25 (not started: no network); ``feed.window`` is its window."""
    settings = Settings(exchange=ExchangeSettings(kline_interval="Min5"))
    feed = MarketFeed(settings, MexcRest(settings.exchange, None), backfill=capacity)
    assert (feed.window.short, feed.window.long, feed.window.capacity) == (7, 25, capacity)
    return feed


def _stream(feed: MarketFeed, candles: list[Candle], rest: list[Candle]) -> list[ClosedCandle]:
    """Push frames for ``candles``; on a reported gap, repair from ``rest`` like the feed does."""
    window = feed.window
    reported: list[ClosedCandle] = []
    for c in candles:
        for frame in pushes_for(c):
            update = feed.ingest(frame)
            if update is None:
                continue
            reported.extend(update.closed)
            if update.gap is not None:
                lo, hi = update.gap
                rows = [r for r in rest if lo <= r.open_time_ms <= hi]
                reported.extend(window.apply_rest(rows).closed)
    return reported


def _same(got: list[ClosedCandle], ref: list[ClosedCandle]) -> None:
    by_time = {r.candle.open_time_ms: r for r in ref}
    assert got, "nothing was reported"
    for g in got:
        r = by_time[g.candle.open_time_ms]
        assert (g.candle, g.ma_short, g.ma_long, g.trend, g.crossover) == \
               (r.candle, r.ma_short, r.ma_long, r.trend, r.crossover), g.candle.open_time_ms


def test_stream_only_matches_offline(shared_data: Path) -> None:
    candles = load_csv(shared_data / "ETH_BTC-5m.csv", 0, 400)
    feed = new_feed()
    window = feed.window
    got = _stream(feed, candles, candles)
    ref = offline_series(candles[:-1], 7, 25)
    assert [g.candle.open_time_ms for g in got] == [r.candle.open_time_ms for r in ref]
    _same(got, ref)
    events = [g.crossover for g in got if g.crossover]
    assert events == [r.crossover for r in ref if r.crossover]
    assert len(events) > 5
    assert window.ma_long == sma([c.close for c in candles[:-1]], 25)
    assert window.trend == ref[-1].trend


def test_insufficient_data_gives_no_signal() -> None:
    c0 = Candle(0, Decimal(1), Decimal(1), Decimal(1), Decimal(1), Decimal(0), FIVE_MIN,
                Decimal(0))
    window = CandleWindow(FIVE_MIN, 2, 3)
    rows = [replace(c0, open_time_ms=i * FIVE_MIN, close_time_ms=(i + 1) * FIVE_MIN,
                    close=Decimal(i + 1)) for i in range(4)]
    update = window.apply_rest(rows[:3])  # the last row is still forming
    assert [c.trend for c in update.closed] == [None, None]
    assert not window.ready and window.ma_long is None and window.signal_strength_pct is None
    update = window.apply_rest([*rows, replace(rows[3], open_time_ms=4 * FIVE_MIN)])
    assert window.ready
    assert [c.trend for c in update.closed] == [Trend.BULLISH, Trend.BULLISH]
    assert window.ma_short == Decimal("3.5") and window.ma_long == Decimal(3)
    assert update.events == []  # the first classified candle is no crossover


@pytest.mark.parametrize("name", ["TRX_BTC", "ADA_BTC"])
def test_real_gaps_stay_gaps(shared_data: Path, name: str) -> None:
    start = 3500 if name == "TRX_BTC" else 1400
    rest = load_csv(shared_data / f"{name}-5m.csv", start, start + 300)
    jumps = sum(1 for a, b in itertools.pairwise(rest)
                if b.open_time_ms - a.open_time_ms > FIVE_MIN)
    assert jumps >= 1
    feed = new_feed()
    window = feed.window
    window.apply_rest(rest[:60], emit=False)
    gaps = 0
    got: list[ClosedCandle] = []
    for c in rest[59:]:
        for frame in pushes_for(c):
            update = feed.ingest(frame)
            if update is None:
                continue
            got.extend(update.closed)
            if update.gap is not None:
                gaps += 1
                lo, hi = update.gap
                got.extend(window.apply_rest([r for r in rest if lo <= r.open_time_ms <= hi])
                           .closed)
    assert gaps == jumps
    ref = offline_series(rest[:-1], 7, 25)
    _same(got, ref)
    assert [g.candle.open_time_ms for g in got] == [r.candle.open_time_ms for r in ref[59:]]


def test_missed_windows_are_repaired_from_rest(shared_data: Path) -> None:
    rest = load_csv(shared_data / "LTC_BTC-5m.csv", 0, 300)
    feed = new_feed()
    # the stream loses candles 100..104 (a disconnect): the window must fetch them from REST
    stream = rest[:100] + rest[105:]
    got = _stream(feed, stream, rest)
    ref = offline_series(rest[:-1], 7, 25)
    assert [g.candle.open_time_ms for g in got] == [r.candle.open_time_ms for r in ref]
    _same(got, ref)


def test_rest_corrects_a_stream_candle_and_reports_it(shared_data: Path) -> None:
    rest = load_csv(shared_data / "XLM_BTC-5m.csv", 0, 60)
    feed = new_feed()
    window = feed.window
    window.apply_rest(rest[:41], emit=False)  # rest[40] is still forming
    bad = replace(rest[40], close=rest[40].close * 2)
    first = feed.ingest(push(bad))
    assert first is not None and first.closed == [] and first.gap is None
    update = feed.ingest(push(rest[41]))
    assert update is not None and update.closed[0].candle == bad
    update = window.apply_rest(rest[:43])
    assert update.corrected == [rest[40].open_time_ms]
    assert [c.candle for c in update.closed] == [rest[41]]
    assert window.candles[-2:] == (rest[40], rest[41])
    assert window.ma_long == sma([c.close for c in rest[:42]], 25)
    assert window.ma_short == sma([c.close for c in rest[:42]], 7)


def test_late_and_duplicate_ticks_change_nothing(shared_data: Path) -> None:
    rest = load_csv(shared_data / "XLM_BTC-5m.csv", 0, 40)
    feed = new_feed()
    window = feed.window
    window.apply_rest(rest[:32], emit=False)  # closed up to rest[30]; rest[31] is forming
    assert feed.ingest(push(rest[30])) is not None  # the stream lags behind REST
    update = feed.ingest(push(rest[31]))
    assert update is not None and update.closed == [] and update.gap is None
    before = window.ma_long
    late = feed.ingest(push(rest[30]))
    assert late is not None and late.ignored_ticks == 1
    assert window.ma_long == before == sma([c.close for c in rest[:31]], 25)


def test_interruption_leaves_the_forming_candle_to_rest(shared_data: Path) -> None:
    rest = load_csv(shared_data / "XLM_BTC-5m.csv", 0, 40)
    feed = new_feed()
    window = feed.window
    window.apply_rest(rest[:31], emit=False)
    feed.ingest(push(rest[30], close=Decimal(5)))  # partial state, then the socket drops
    feed.stream_interrupted()
    update = feed.ingest(push(rest[32]))
    assert update is not None and update.closed == []
    assert update.gap == (rest[30].open_time_ms, rest[32].open_time_ms)
    update = window.apply_rest(rest[:33])
    assert [c.candle for c in update.closed] == [rest[30], rest[31]]


def test_trimming_keeps_values_exact(shared_data: Path) -> None:
    rest = load_csv(shared_data / "ETH_BTC-5m.csv", 0, 700)
    feed = new_feed(capacity=100)
    window = feed.window
    got = _stream(feed, rest, rest)
    assert len(window) <= 200
    _same(got, offline_series(rest[:-1], 7, 25))


def test_deadband_neutral_zone() -> None:
    window = CandleWindow(FIVE_MIN, 1, 2, deadband=Decimal("0.1"))
    closes = ["10", "10", "10.5", "12", "10.5", "8"]
    rows = [Candle(i * FIVE_MIN, Decimal(x), Decimal(x), Decimal(x), Decimal(x), Decimal(0),
                   (i + 1) * FIVE_MIN, Decimal(0)) for i, x in enumerate([*closes, "8"])]
    update = window.apply_rest(rows)
    assert [c.trend for c in update.closed] == [None, Trend.NEUTRAL, Trend.NEUTRAL,
                                                Trend.NEUTRAL, Trend.NEUTRAL, Trend.BEARISH]
    assert [(e.previous, e.trend) for e in update.events] == [(Trend.NEUTRAL, Trend.BEARISH)]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="short < long"):
        CandleWindow(FIVE_MIN, 25, 7)
    with pytest.raises(ValueError, match="interval_ms"):
        CandleWindow(0, 7, 25)


def test_no_deadband_classifies_as_the_band_formula() -> None:
    """``classify_trend`` with deadband 0 compares the averages directly: the same trend as
    ``short > long * (1 + 0)`` / ``short < long * (1 - 0)`` for averages of up to 28 digits
    (every average the window and the planner compute: a quotient in the default context)."""
    from daemon.domain.signals import classify_trend

    def banded(short: Decimal, long: Decimal) -> Trend:
        if short > long * (Decimal(1) + 0):
            return Trend.BULLISH
        if short < long * (Decimal(1) - 0):
            return Trend.BEARISH
        return Trend.NEUTRAL

    values = [Decimal(x) for x in ("0", "1", "0.2", "0.20000000", "0.2000000000000000000000001",
                                   "1E-30", "5E+20", "0.1999999999999999999999999999")]
    values += [Decimal(1) / 7, Decimal(2) / 3, Decimal("1.43210987") / 25]
    for zero in (Decimal(0), Decimal("0.000")):
        for a in values:
            for b in values:
                assert classify_trend(a, b, zero) is banded(a, b), (a, b)
