"""The client-side limiter with an injected clock: weights per 10 s, per-second caps, pauses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from daemon.adapters.mexc.ratelimit import RateLimiter
from daemon.config import ExchangeSettings


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_weight_budget_per_10s() -> None:
    t = FakeTime()
    limiter = RateLimiter(20, clock=t.clock, sleep=t.sleep)
    await limiter.acquire(10)
    t.now += 4
    await limiter.acquire(10)
    assert t.slept == [] and limiter.used_weight == 20
    await limiter.acquire(1)  # must wait until the first 10 expires: 6 s later
    assert sum(t.slept) == pytest.approx(6.001)
    assert limiter.used_weight == 11


async def test_per_second_cap_for_account() -> None:
    t = FakeTime()
    limiter = RateLimiter(500, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        await limiter.acquire(10, "account")
    assert sum(t.slept) == pytest.approx(1.001)  # 2 per second
    await limiter.acquire(1)  # other endpoints are not held by the account cap
    assert sum(t.slept) == pytest.approx(1.001)


async def test_pause_holds_everything() -> None:
    t = FakeTime()
    limiter = RateLimiter(500, clock=t.clock, sleep=t.sleep)
    limiter.pause(5)
    assert limiter.paused_for_s == 5
    await limiter.acquire(1)
    assert sum(t.slept) == pytest.approx(5) and limiter.waited_s == pytest.approx(5)


def test_bad_budget_named() -> None:
    with pytest.raises(ValueError, match="weight_per_10s"):
        RateLimiter(0)


def test_hour8_interval_is_refused_by_the_config() -> None:
    # Refused when the settings are validated (check-config), before any feed is built.
    with pytest.raises(ValidationError, match="no 8h interval"):
        ExchangeSettings(kline_interval="Hour8")
