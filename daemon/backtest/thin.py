"""Thinning a long series for drawing: a year of 5-minute candles is 105,000 points per line,
more than a browser draws smoothly in several charts. The series is cut into equal buckets and
each bucket keeps its lowest and its highest point (in time order), plus the series' first and
last point, so spikes and drops stay visible at any zoom of the whole range. Only the drawing is
thinned; every figure of the summary is computed from all points.

Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_MAX_POINTS = 4000  # per line; SVG charts stay responsive well beyond this


def thin_indices(ys: Sequence[float], max_points: int = DEFAULT_MAX_POINTS) -> list[int]:
    """Indices of the points of ``ys`` to draw, ascending: all of them when there are at most
    ``max_points``, otherwise the first, the last and each bucket's min and max (at most
    ``max_points`` in all)."""
    if max_points < 4:
        raise ValueError(f"max_points must be >= 4, got {max_points}")
    n = len(ys)
    if n <= max_points:
        return list(range(n))
    buckets = (max_points - 2) // 2
    keep = {0, n - 1}
    get = ys.__getitem__
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo < hi:
            span = range(lo, hi)
            keep.add(min(span, key=get))
            keep.add(max(span, key=get))
    return sorted(keep)


def thin(xs: Sequence[int], ys: Sequence[float],
         max_points: int = DEFAULT_MAX_POINTS) -> tuple[list[int], list[float]]:
    """``(xs, ys)`` thinned together (see :func:`thin_indices`)."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
    idx = thin_indices(ys, max_points)
    return [xs[i] for i in idx], [ys[i] for i in idx]
