"""The statistics the issue-20 benches judge by (bench/benchkit.py): nearest-rank percentiles
(p99 of 200 samples is the 198th smallest, not the largest) and a least-squares slope."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from benchkit import fit_slope, pct, spread


def test_p99_of_200_samples_is_the_198th() -> None:
    samples = [float(x) for x in range(1, 201)]
    assert pct(samples, 0.99) == 198.0
    assert pct(samples, 0.5) == 100.0
    assert pct([7.0], 0.99) == 7.0


def test_slope_and_its_standard_error() -> None:
    exact = fit_slope([0, 1, 2, 3], [10, 12, 14, 16])
    assert (exact.slope, exact.stderr, exact.n) == (2.0, 0.0, 4)  # a line: no error
    noisy = fit_slope([0, 1, 2, 3], [0, 2, 1, 3])
    assert noisy.slope == pytest.approx(0.8)
    assert noisy.stderr == pytest.approx(0.4242641, rel=1e-6)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="no samples"):
        pct([], 0.5)
    with pytest.raises(ValueError, match="every x is the same"):
        fit_slope([1, 1], [2, 3])
    assert spread([1.5, 2.25, 1.75]) == "1.5-2.25"
