"""Several candle series aligned by time (daemon/backtest/align.py): only the times every
series has are replayed, each series' own gaps and the candles it loses to the others are
counted, nothing is filled in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.backtest.align import align
from daemon.backtest.candles_csv import CandleSeries
from daemon.domain.models import Candle
from daemon.errors import InputError

D = Decimal
T0 = 1_699_920_000_000
M5 = 300_000


def series(path: str, slots: list[int], interval: int = M5) -> CandleSeries:
    candles = tuple(Candle(T0 + i * interval, D(1), D(1), D(1), D(1), D(1),
                           T0 + (i + 1) * interval, D(1)) for i in slots)
    gaps = (slots[-1] - slots[0] + 1) - len(slots)
    return CandleSeries(path, candles, interval, gaps)


def test_only_the_times_every_series_has_are_kept() -> None:
    a = series("a.csv", [0, 1, 2, 4, 5, 6, 7, 8, 9])  # slot 3 missing
    b = series("b.csv", [2, 3, 4, 5, 6, 8, 9, 10, 11])  # starts later, slot 7 missing
    got = align([("AUSDT", a), ("BUSDT", b)])
    assert [(t - T0) // M5 for t in got.times] == [2, 4, 5, 6, 8, 9]
    assert got.missing == 2  # slots 3 and 7 within 2..9
    assert [(p.pair, p.path, p.candles, p.gaps, p.dropped) for p in got.pairs] == [
        ("AUSDT", "a.csv", 9, 1, 3), ("BUSDT", "b.csv", 9, 1, 3)]


def test_one_series_keeps_everything() -> None:
    got = align([("AUSDT", series("a.csv", [0, 1, 3]))])
    assert [(t - T0) // M5 for t in got.times] == [0, 1, 3]
    assert (got.missing, got.pairs[0].gaps, got.pairs[0].dropped) == (1, 1, 0)


def test_series_that_cannot_be_aligned_are_refused() -> None:
    with pytest.raises(InputError, match="share no candle time"):
        align([("AUSDT", series("a.csv", [0, 1])), ("BUSDT", series("b.csv", [2, 3]))])
    with pytest.raises(InputError, match=r"--candles BUSDT=b.csv: interval 60000 ms differs "
                                         r"from AUSDT=a.csv's 300000 ms"):
        align([("AUSDT", series("a.csv", [0, 1])), ("BUSDT", series("b.csv", [0], 60_000))])
