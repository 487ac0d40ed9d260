"""Several candle series aligned by time for the portfolio backtest. Pure: no I/O.

The replay steps only through the candle times EVERY series has (the intersection of their
open times, after ``--from``/``--to``): a time missing in one series is missing for the
portfolio, never filled in from a neighbour. Per pair it reports its own gaps (windows with no
row between its first and last replayed candle) and how many of its candles were left out
because another series lacks that time or does not cover it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daemon.backtest.candles_csv import CandleSeries
from daemon.errors import InputError


@dataclass(frozen=True, slots=True)
class PairCoverage:
    """What one series contributes: its candles replayed (after --from/--to), its own gaps,
    and its candles left out (another series has no candle at that time)."""

    pair: str
    path: str
    candles: int
    gaps: int
    dropped: int


@dataclass(frozen=True, slots=True)
class Alignment:
    """The open times every series has, ascending, and each series' coverage (in the order
    given). ``missing``: candle windows between the first and last aligned time that are not
    replayed (a gap in at least one series)."""

    times: tuple[int, ...]
    interval_ms: int
    pairs: tuple[PairCoverage, ...]

    @property
    def missing(self) -> int:
        span = (self.times[-1] - self.times[0]) // self.interval_ms + 1
        return span - len(self.times)


def align(series: Sequence[tuple[str, CandleSeries]]) -> Alignment:
    """``series``: (pair, its candles) per pair. InputError when the intervals differ or the
    series share no time."""
    if not series:
        raise InputError("--candles: no candle file given")
    first_pair, first = series[0]
    for pair, s in series[1:]:
        if s.interval_ms != first.interval_ms:
            raise InputError(f"--candles {pair}={s.path}: interval {s.interval_ms} ms differs "
                             f"from {first_pair}={first.path}'s {first.interval_ms} ms")
    common = set(c.open_time_ms for c in first.candles)
    for _, s in series[1:]:
        common.intersection_update(c.open_time_ms for c in s.candles)
    if not common:
        ranges = "; ".join(f"{pair} {s.start_ms}..{s.end_ms}" for pair, s in series)
        raise InputError(f"--candles: the files share no candle time (open_time_ms ranges: "
                         f"{ranges})")
    times = tuple(sorted(common))
    pairs = tuple(PairCoverage(pair, s.path, len(s.candles), s.gaps,
                               len(s.candles) - len(times))
                  for pair, s in series)
    return Alignment(times, first.interval_ms, pairs)
