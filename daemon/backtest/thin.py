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


def thin(xs: Sequence[int], ys: Sequence[float], max_points: int = DEFAULT_MAX_POINTS, *,
         step: int | None = None) -> tuple[list[int], list[float | None]]:
    """``(xs, ys)`` thinned together (see :func:`thin_indices`). With ``step`` (the candle
    length), a jump of more than ``step`` between neighbouring xs is a gap in the data: both
    its sides are kept and a None between them breaks the drawn line there."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
    idx = set(thin_indices(ys, max_points))
    breaks = [] if step is None else [i for i in range(len(xs) - 1) if xs[i + 1] - xs[i] > step]
    for i in breaks:
        idx.update((i, i + 1))
    after_gap = {i + 1 for i in breaks}
    out_x: list[int] = []
    out_y: list[float | None] = []
    for i in sorted(idx):
        if i in after_gap:
            out_x.append((xs[i - 1] + xs[i]) // 2)
            out_y.append(None)
        out_x.append(xs[i])
        out_y.append(ys[i])
    return out_x, out_y
