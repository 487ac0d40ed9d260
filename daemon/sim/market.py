"""Market models for the simulator: a replayed candle file or a seeded random walk with regimes.

Both are a sequence of *base candles* (5m for a replay of ../shared/data files, 1m for the random
walk) plus a deterministic intra-candle price path: O -> L -> H -> C for an up candle and
O -> H -> L -> C for a down candle, linear between the vertices at 0, 1/3, 2/3 and 1 of the
candle. Every interval's candle (also 1m from a 5m replay, or the still-forming candle at any
simulated instant) is aggregated from that path, so REST klines, kline pushes and the matching
engine all see one consistent market. Gaps in a replay file stay gaps: no candle is reported for
them and the price stays at the last close.

Pure: no I/O except reading the replay file once, no clock (time is passed in)."""

from __future__ import annotations

import bisect
import calendar
import csv
import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from daemon.domain.fields import ARGUMENTS
from daemon.domain.money import ZERO, floor_to

MINUTE_MS = 60_000
# REST interval names (case-sensitive, MEXC's set) and their fixed lengths; 1M is calendar.
REST_INTERVALS: dict[str, int] = {
    "1m": MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS, "30m": 30 * MINUTE_MS,
    "60m": 60 * MINUTE_MS, "4h": 240 * MINUTE_MS, "1d": 1440 * MINUTE_MS,
    "1W": 7 * 1440 * MINUTE_MS, "1M": 0,
}
# Websocket interval names -> internal key (Hour8 exists on the websocket only).
WS_INTERVALS: dict[str, str] = {
    "Min1": "1m", "Min5": "5m", "Min15": "15m", "Min30": "30m", "Min60": "60m",
    "Hour4": "4h", "Hour8": "8h", "Day1": "1d", "Week1": "1W", "Month1": "1M",
}
_FIXED_MS: dict[str, int] = {**{k: v for k, v in REST_INTERVALS.items() if v},
                             "8h": 480 * MINUTE_MS}
_ALIGN_MS = 5 * MINUTE_MS  # a random walk starts at a 5m boundary of the real clock
_MONDAY_OFFSET_MS = 4 * 1440 * MINUTE_MS  # 1970-01-01 was a Thursday; weeks start on Monday


def window_of(interval: str, t_ms: int) -> tuple[int, int]:
    """[start, end) in ms of the ``interval`` candle that contains ``t_ms`` (UTC-aligned)."""
    if interval == "1M":
        d = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
        start = calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
        ny, nm = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return start, calendar.timegm((ny, nm, 1, 0, 0, 0)) * 1000
    size = _FIXED_MS.get(interval)
    if size is None:
        raise ValueError(f"unknown interval {interval!r}")
    offset = _MONDAY_OFFSET_MS if interval == "1W" else 0
    start = (t_ms - offset) // size * size + offset
    return start, start + size


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle: open time and OHLCV in Decimal (quote_volume = turnover)."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal


@dataclass(frozen=True, slots=True)
class ReplayMarket:
    """Replays a candle CSV (../shared/data layout). Candles before ``start_index`` are closed
    history; simulated time starts at the open of candle ``start_index``; ``rescale`` multiplies
    prices (and quote volume) by a factor, e.g. "500" to move a BTC-quoted series to ~0.05."""

    path: Path
    rescale: str | Decimal | None = None
    start_index: int = 0
    end_index: int | None = None


@dataclass(frozen=True, slots=True)
class RandomWalkMarket:
    """A seeded random walk of 1m candles with regimes (up trend, down trend, chop) lasting
    tens of minutes to hours, so MA7/MA25 crossovers on 5m candles happen every few hours.
    ``history_candles`` 1m candles of closed history exist before the simulated start."""

    start_price: str | Decimal = "0.05"
    history_candles: int = 3000
    volatility_per_min: float = 0.0012  # stdev of 1m log returns
    trend_per_min: float = 0.0005  # |drift| of 1m log returns in a trend regime
    base_volume: str | Decimal = "20000"  # mean base volume per 1m candle


MarketSpec = ReplayMarket | RandomWalkMarket


@dataclass(slots=True)
class _Walk:
    rng: random.Random
    log_price: float = 0.0
    regime: int = 0  # -1 down, 0 chop, 1 up
    regime_left: int = 0
    anchor: float = 0.0


@dataclass
class MarketModel:
    """The runtime market: base candles (growing lazily for a random walk) and path queries."""

    base_ms: int
    bars: list[Bar]
    start_ms: int
    price_decimals: int
    walk: _Walk | None = None
    walk_spec: RandomWalkMarket | None = None
    scale: float = 1.0
    _opens: list[int] = field(default_factory=list)
    _closed_cache: dict[tuple[str, int], Bar | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._opens = [b.open_ms for b in self.bars]

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, spec: MarketSpec, *, seed: int, price_decimals: int,
              real_now_ms: int) -> MarketModel:
        if isinstance(spec, ReplayMarket):
            return cls._from_replay(spec, price_decimals)
        return cls._from_walk(spec, seed=seed, price_decimals=price_decimals, now_ms=real_now_ms)

    @classmethod
    def _from_replay(cls, spec: ReplayMarket, price_decimals: int) -> MarketModel:
        bars = load_candles(spec.path, rescale=spec.rescale, price_decimals=price_decimals)
        if len(bars) < 2:
            raise ValueError(f"{spec.path}: needs at least 2 candles, has {len(bars)}")
        end = len(bars) if spec.end_index is None else spec.end_index
        if not 0 <= spec.start_index < end <= len(bars):
            raise ValueError(f"{spec.path}: start_index {spec.start_index} / end_index "
                             f"{spec.end_index} outside 0..{len(bars)}")
        bars = bars[:end]
        base = min(b.open_ms - a.open_ms for a, b in itertools.pairwise(bars))
        if base <= 0 or base % MINUTE_MS:
            raise ValueError(f"{spec.path}: candles are not a whole-minute series")
        return cls(base_ms=base, bars=bars, start_ms=bars[spec.start_index].open_ms,
                   price_decimals=price_decimals)

    @classmethod
    def _from_walk(cls, spec: RandomWalkMarket, *, seed: int, price_decimals: int,
                   now_ms: int) -> MarketModel:
        start_price = ARGUMENTS.decimal(spec.start_price, "start_price")
        if start_price <= 0:
            raise ValueError(f"start_price must be > 0, got {spec.start_price}")
        if spec.history_candles < 1:
            raise ValueError(f"history_candles must be >= 1, got {spec.history_candles}")
        start_ms = now_ms // _ALIGN_MS * _ALIGN_MS
        walk = _Walk(rng=random.Random(seed))
        first = start_ms - spec.history_candles * MINUTE_MS
        raw = [_walk_step(walk, spec) for _ in range(spec.history_candles)]
        # Scale so that the price at the simulated start is start_price.
        scale = float(start_price) / math.exp(walk.log_price)
        model = cls(base_ms=MINUTE_MS, bars=[], start_ms=start_ms, price_decimals=price_decimals,
                    walk=walk, walk_spec=spec, scale=scale)
        for i, r in enumerate(raw):
            model._append(_to_bar(first + i * MINUTE_MS, r, scale, price_decimals, spec))
        return model

    def _append(self, bar: Bar) -> None:
        self.bars.append(bar)
        self._opens.append(bar.open_ms)

    def _extend_to(self, t_ms: int) -> None:
        """Random walk: generate candles up to the one containing ``t_ms``."""
        if self.walk is None or self.walk_spec is None:
            return
        while self._opens[-1] + self.base_ms <= t_ms:
            r = _walk_step(self.walk, self.walk_spec)
            self._append(_to_bar(self._opens[-1] + self.base_ms, r, self.scale,
                                 self.price_decimals, self.walk_spec))

    # -- queries ------------------------------------------------------------------------
    @property
    def end_ms(self) -> int | None:
        """End of the replayed data (None for the unbounded random walk)."""
        return None if self.walk is not None else self._opens[-1] + self.base_ms

    def _index_at(self, t_ms: int) -> int:
        """Index of the last base candle opening at or before ``t_ms`` (-1 if none)."""
        self._extend_to(t_ms)
        return bisect.bisect_right(self._opens, t_ms) - 1

    def has_candle_at(self, t_ms: int) -> bool:
        i = self._index_at(t_ms)
        return i >= 0 and t_ms < self._opens[i] + self.base_ms

    def price_at(self, t_ms: int) -> Decimal:
        """The path price at ``t_ms``; in a gap or after the data, the last close."""
        i = self._index_at(t_ms)
        if i < 0:
            return self.bars[0].open
        bar = self.bars[i]
        if t_ms >= bar.open_ms + self.base_ms:
            return bar.close
        return self._path(bar, Decimal(t_ms - bar.open_ms) / self.base_ms)

    def _vertices(self, bar: Bar) -> list[tuple[Decimal, Decimal]]:
        mid1, mid2 = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        return [(ZERO, bar.open), (Decimal(1) / 3, mid1), (Decimal(2) / 3, mid2),
                (Decimal(1), bar.close)]

    def _path(self, bar: Bar, f: Decimal) -> Decimal:
        v = self._vertices(bar)
        for (f0, p0), (f1, p1) in itertools.pairwise(v):
            if f <= f1:
                return floor_to(p0 + (p1 - p0) * (f - f0) / (f1 - f0), self.price_decimals)
        return bar.close

    def _segment(self, bar: Bar, a_ms: int, b_ms: int) -> Bar:
        """The part of ``bar`` between absolute times a and b (clipped to the bar)."""
        a_ms, b_ms = max(a_ms, bar.open_ms), min(b_ms, bar.open_ms + self.base_ms)
        if a_ms == bar.open_ms and b_ms == bar.open_ms + self.base_ms:
            return bar
        fa = Decimal(a_ms - bar.open_ms) / self.base_ms
        fb = Decimal(b_ms - bar.open_ms) / self.base_ms
        o, c = self._path(bar, fa), self._path(bar, fb)
        inner = [p for f, p in self._vertices(bar) if fa < f < fb]

        def upto(total: Decimal, f: Decimal) -> Decimal:
            # cumulative share, so that the parts of a candle add up to it exactly
            return total if f >= 1 else floor_to(total * f, 8)

        return Bar(a_ms, o, max([o, c, *inner]), min([o, c, *inner]), c,
                   upto(bar.volume, fb) - upto(bar.volume, fa),
                   upto(bar.quote_volume, fb) - upto(bar.quote_volume, fa))

    def range_between(self, a_ms: int, b_ms: int) -> tuple[Decimal, Decimal]:
        """(low, high) of the path over [a, b]; a single price when there is no candle."""
        agg = self.aggregate(a_ms, b_ms, b_ms)
        if agg is None:
            p = self.price_at(b_ms)
            return p, p
        return agg.low, agg.high

    def aggregate(self, start_ms: int, end_ms: int, upto_ms: int) -> Bar | None:
        """Candle of the window [start, end) as of ``upto_ms`` (None: no data in it yet)."""
        stop = min(end_ms, upto_ms)
        if stop <= start_ms:
            return None
        self._extend_to(stop - 1)
        i = max(0, bisect.bisect_right(self._opens, start_ms) - 1)
        parts: list[Bar] = []
        while i < len(self.bars) and self._opens[i] < stop:
            bar = self.bars[i]
            if bar.open_ms + self.base_ms > start_ms:
                parts.append(self._segment(bar, start_ms, stop))
            i += 1
        if not parts:
            return None
        return Bar(start_ms, parts[0].open, max(p.high for p in parts),
                   min(p.low for p in parts), parts[-1].close,
                   sum((p.volume for p in parts), ZERO),
                   sum((p.quote_volume for p in parts), ZERO))

    def candle(self, interval: str, window_start_ms: int, now_ms: int) -> Bar | None:
        """The ``interval`` candle opening at ``window_start_ms`` as known at ``now_ms``;
        closed windows are cached."""
        start, end = window_of(interval, window_start_ms)
        if end <= now_ms:
            key = (interval, start)
            if key not in self._closed_cache:
                self._closed_cache[key] = self.aggregate(start, end, end)
            return self._closed_cache[key]
        return self.aggregate(start, end, now_ms + 1)

    def klines(self, interval: str, now_ms: int, *, start_ms: int | None, end_ms: int | None,
               limit: int) -> list[Bar]:
        """REST rows: candles with data, open time in [start, end], up to ``now_ms`` (the last
        row is the forming candle). Without startTime the newest ``limit`` rows."""
        hi = now_ms if end_ms is None else min(end_ms, now_ms)
        first_data = self._opens[0]
        if start_ms is None:
            out: list[Bar] = []
            w = window_of(interval, hi)[0]
            while len(out) < limit and window_of(interval, w)[1] > first_data:
                bar = self.candle(interval, w, now_ms)
                if bar is not None:
                    out.append(bar)
                w = window_of(interval, w - 1)[0]
            out.reverse()
            return out
        rows: list[Bar] = []
        w = window_of(interval, max(start_ms, first_data))[0]
        if w < start_ms:
            w = window_of(interval, w)[1]
        while w <= hi and len(rows) < limit:
            bar = self.candle(interval, w, now_ms)
            if bar is not None:
                rows.append(bar)
            w = window_of(interval, w)[1]
        return rows


def load_candles(path: Path, *, rescale: str | Decimal | None, price_decimals: int) -> list[Bar]:
    """Read a ../shared/data style CSV; prices multiplied by ``rescale`` and floored."""
    factor = Decimal(1) if rescale is None else ARGUMENTS.decimal(rescale, "rescale")
    if factor <= 0:
        raise ValueError(f"rescale must be > 0, got {rescale}")
    bars: list[Bar] = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or header[:2] != ["open_time_ms", "open"]:
            raise ValueError(f"{path}: expected a header starting open_time_ms,open; got {header}")
        for n, row in enumerate(reader, start=2):
            if len(row) != 8:
                raise ValueError(f"{path}:{n}: expected 8 fields, got {len(row)}")
            try:
                o, h, lo, c = (floor_to(Decimal(x) * factor, price_decimals) for x in row[1:5])
                bars.append(Bar(int(row[0]), o, h, lo, c, Decimal(row[5]),
                                Decimal(row[7]) * factor))
            except (ArithmeticError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: bad candle {row}: {exc}") from None
    return bars


def _walk_step(w: _Walk, spec: RandomWalkMarket) -> tuple[float, float, float, float, float]:
    """Advance the walk one 1m candle; returns (open, high, low, close, volume factor) in log
    space offsets for open/close and relative extents for high/low."""
    rng = w.rng
    if w.regime_left <= 0:
        # Regimes last 30 min .. 4 h; trends lean back toward the anchor to stay bounded.
        lean = max(-0.4, min(0.4, (w.anchor - w.log_price) * 2.0))
        u = rng.random()
        w.regime = 1 if u < 0.3 + lean / 2 else (-1 if u < 0.6 else 0)
        w.regime_left = rng.randint(30, 240)
    w.regime_left -= 1
    sigma = spec.volatility_per_min * (0.7 if w.regime else 1.0)
    drift = w.regime * spec.trend_per_min
    if w.regime == 0:
        drift += (w.anchor - w.log_price) * 0.002
    o = w.log_price
    c = o + drift + rng.gauss(0.0, sigma)
    hi = max(o, c) + abs(rng.gauss(0.0, sigma * 0.6))
    lo = min(o, c) - abs(rng.gauss(0.0, sigma * 0.6))
    w.log_price = c
    vol = math.exp(rng.gauss(0.0, 0.5)) * (1.5 if w.regime else 1.0)
    return o, hi, lo, c, vol


def _to_bar(open_ms: int, r: tuple[float, float, float, float, float], scale: float,
            decimals: int, spec: RandomWalkMarket) -> Bar:
    o, h, lo, c = (floor_to(Decimal(repr(math.exp(x) * scale)), decimals) for x in r[:4])
    h, lo = max(h, o, c), min(lo, o, c)
    volume = floor_to(ARGUMENTS.decimal(spec.base_volume, "base_volume")
                      * Decimal(repr(r[4])), 2)
    mid = (o + c) / 2
    return Bar(open_ms, o, h, lo, c, volume, floor_to(volume * mid, 8))


def synth_book(mid: Decimal, *, levels: int, level_quote: Decimal, step_frac: Decimal,
               price_decimals: int, qty_decimals: int
               ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """A finite book around ``mid``: ``levels`` bids and asks, ``step_frac`` apart (at least one
    tick), each holding about ``level_quote`` of quote value, deeper levels a little more.
    Returns (bids best first, asks best first)."""
    tick = Decimal(1).scaleb(-price_decimals)
    step = max(tick, floor_to(mid * step_frac, price_decimals))
    best_bid = floor_to(mid - step / 2, price_decimals)
    best_ask = best_bid + step
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []
    for i in range(levels):
        weight = 1 + Decimal(i) / 4
        ask = best_ask + step * i
        asks.append((ask, floor_to(level_quote * weight / ask, qty_decimals)))
        bid = best_bid - step * i
        if bid > 0:
            bids.append((bid, floor_to(level_quote * weight / bid, qty_decimals)))
    return bids, asks
