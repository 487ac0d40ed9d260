"""Thinning a series for drawing keeps its extremes, its ends and its order."""

from __future__ import annotations

import random

import pytest

from daemon.backtest.thin import thin, thin_indices


def test_a_short_series_is_kept_whole() -> None:
    assert thin_indices([3.0, 1.0, 2.0], 10) == [0, 1, 2]
    assert thin([10, 20], [1.0, 2.0], 4) == ([10, 20], [1.0, 2.0])


def test_a_long_series_keeps_ends_spikes_and_drops_within_the_budget() -> None:
    rng = random.Random(5)
    ys = [rng.uniform(-1, 1) for _ in range(105_120)]  # a year of 5-minute candles
    ys[777], ys[90_001] = 50.0, -40.0  # one spike, one drop
    xs = list(range(0, 300_000 * len(ys), 300_000))
    tx, ty = thin(xs, ys, 4000)
    assert len(tx) <= 4000 and len(tx) > 3900
    assert tx == sorted(tx) and tx[0] == 0 and tx[-1] == xs[-1]
    kept = set(zip(tx, ty, strict=True))
    assert (xs[777], 50.0) in kept and (xs[90_001], -40.0) in kept
    assert all(ys[x // 300_000] == y for x, y in zip(tx, ty, strict=True))
    assert max(ty) == 50.0 and min(ty) == -40.0


def test_each_bucket_keeps_its_min_and_max() -> None:
    ys = [0.0, 5.0, -5.0, 0.0] * 10  # 40 points, 10 buckets of 4 with a budget of 22
    idx = thin_indices(ys, 22)
    assert [ys[i] for i in idx].count(5.0) == 10 and [ys[i] for i in idx].count(-5.0) == 10


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_points must be >= 4"):
        thin_indices([1.0], 3)
    with pytest.raises(ValueError, match="2 x values for 1 y values"):
        thin([1, 2], [1.0])


def test_a_gap_in_the_candles_breaks_the_line_instead_of_bridging_it() -> None:
    xs = [0, 5, 10, 30, 35]  # the candles 15, 20 and 25 are missing
    ys = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert thin(xs, ys, 100, step=5) == ([0, 5, 10, 20, 30, 35],
                                         [1.0, 2.0, 3.0, None, 4.0, 5.0])
    long_xs = [i * 5 for i in range(10_000)]
    long_xs[5000:] = [x + 50 for x in long_xs[5000:]]  # one gap in the middle
    tx, ty = thin(long_xs, [float(i % 7) for i in range(10_000)], 100, step=5)
    at = ty.index(None)
    assert ty.count(None) == 1 and tx[at - 1] == long_xs[4999] and tx[at + 1] == long_xs[5000]
