"""The one backoff formula: capped exponential, jitter given by the caller."""

from __future__ import annotations

import pytest

from daemon.domain.backoff import backoff_s


def test_doubles_from_first_and_stops_at_the_cap() -> None:
    assert [backoff_s(i, first_s=0.25, max_s=3.0) for i in range(6)] == \
        [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert [backoff_s(i, first_s=0.2, max_s=0.5) for i in range(4)] == [0.2, 0.4, 0.5, 0.5]


def test_jitter_scales_the_capped_delay() -> None:
    assert backoff_s(0, first_s=0.25, max_s=4.0, jitter=0.5) == 0.125
    assert backoff_s(10, first_s=0.25, max_s=4.0, jitter=1.5) == 6.0  # cap first, then jitter
    assert backoff_s(3, first_s=1.0, max_s=30.0, jitter=0.0) == 0.0


def test_huge_attempt_numbers_stay_finite() -> None:
    assert backoff_s(10_000, first_s=0.5, max_s=30.0) == 30.0


@pytest.mark.parametrize(("attempt", "first", "cap", "jitter"),
                         [(-1, 1.0, 1.0, 1.0), (0, 0.0, 1.0, 1.0), (0, 1.0, 0.0, 1.0),
                          (0, 1.0, 1.0, -0.1)])
def test_nonsense_is_refused(attempt: int, first: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        backoff_s(attempt, first_s=first, max_s=cap, jitter=jitter)


def test_the_numbers_of_the_callers() -> None:
    # REST read retries: 0.25 s doubling to 4 s, +-50 % jitter
    assert [backoff_s(i, first_s=0.25, max_s=4.0) for i in range(7)] == \
        [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    # websocket reconnects: 0.5 s doubling to ws_reconnect_max_backoff_s, 50-100 % jitter
    assert [backoff_s(i, first_s=0.5, max_s=30.0, jitter=0.5) for i in range(8)] == \
        [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
