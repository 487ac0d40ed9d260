"""The one backoff formula: capped exponential, with jitter as an argument (so it stays pure).

    delay(attempt) = min(max_s, first_s * 2**attempt) * jitter

``attempt`` counts from 0. ``jitter`` is a factor the caller draws (e.g. ``0.5 + random()``
for +-50 %, ``0.5 + 0.5 * random()`` for 50-100 %); 1.0 means none.
"""

from __future__ import annotations

_MAX_EXPONENT = 60  # 2**60 s is beyond any cap; keeps huge attempt numbers finite


def backoff_s(attempt: int, *, first_s: float, max_s: float, jitter: float = 1.0) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` >= 0)."""
    if attempt < 0:
        raise ValueError(f"backoff: attempt must be >= 0, got {attempt}")
    if first_s <= 0 or max_s <= 0 or jitter < 0:
        raise ValueError(f"backoff: first_s {first_s} and max_s {max_s} must be > 0, "
                         f"jitter {jitter} >= 0")
    return min(max_s, first_s * 2.0 ** min(attempt, _MAX_EXPONENT)) * jitter
