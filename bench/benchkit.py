"""What every issue-20 bench prints the same way: percentiles, the spread over repeated rounds,
a least-squares slope, and a verdict line (figure, floor measured in the same run, ratio,
spread, target, MET / NOT MET).

A verdict is also appended as one JSON line to the file named by the environment variable
``BENCH_SUMMARY`` when it is set: ``scripts/bench`` (bench/run_benches.py) collects them into
its summary table.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def daemon_logs_to_devnull() -> None:
    """The daemon's logging at its default level (INFO), formatted and written to /dev/null:
    what a log line costs is part of what is measured, the terminal stays readable."""
    from daemon.config import LogSettings
    from daemon.logging_setup import configure_logging

    configure_logging(LogSettings(), stream=open(os.devnull, "w"))  # noqa: SIM115


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank: the value at or below which ``q`` of the
    samples lie (p99 of 200 samples is the 198th smallest, not the largest)."""
    if not values:
        raise ValueError("pct: no samples")
    s = sorted(values)
    rank = max(1, math.ceil(q * len(s)))
    return s[rank - 1]


def num(x: float) -> str:
    """Three significant digits, without exponents: 0.0374, 2.88, 239, 9,911."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def spread(values: Sequence[float]) -> str:
    """The per-round figures' range as text: "1.82-2.31" (one round: that figure)."""
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return num(lo) if lo == hi else f"{num(lo)}-{num(hi)}"


@dataclass(frozen=True)
class Fit:
    slope: float
    stderr: float  # the slope's standard error (0 with fewer than 3 points)
    n: int


def fit_slope(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Ordinary least squares y = a + b x: b and its standard error."""
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError(f"fit_slope: need two or more (x, y) pairs, got {n}")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("fit_slope: every x is the same")
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if n < 3:
        return Fit(b, 0.0, n)
    a = my - b * mx
    rss = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(b, math.sqrt(rss / (n - 2) / sxx), n)


@dataclass(frozen=True)
class Verdict:
    bench: str    # the script, e.g. "bench_store"
    name: str     # what is measured, e.g. "book one fill at 100,000 fills"
    figure: str   # the measured figure, with its unit
    floor: str    # the floor it is compared with, measured in the same run
    ratio: str    # figure / floor (or the compared quantity), e.g. "3.4x"
    spread: str   # the ratio over repeated rounds (or the figure's uncertainty)
    target: str   # e.g. "<= 1.5x"
    met: bool

    def show(self) -> str:
        return (f"VERDICT {self.name}: {self.figure} vs floor {self.floor} = {self.ratio} "
                f"(spread {self.spread}); target {self.target}: "
                f"{'MET' if self.met else 'NOT MET'}")


def verdict(v: Verdict) -> bool:
    """Print ``v`` and append it to $BENCH_SUMMARY (when set); returns ``v.met``."""
    print(v.show(), flush=True)
    path = os.environ.get("BENCH_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(v)) + "\n")
    return v.met
