"""StartupRetry: what another try can cure is tried again until the deadline, each distinct
error logged once; what cannot is raised at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from loguru import logger

from daemon.errors import AuthError, ExchangeUnavailable, ProtocolError
from daemon.runtime.startup import StartupRetry


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def failing(*errors: Exception, result: str = "ok") -> tuple[list[int],
                                                            Callable[[], Awaitable[str]]]:
    calls = [0]

    async def step() -> str:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return result

    return calls, step


async def test_garbage_and_outages_are_tried_again_and_logged_once() -> None:
    t = FakeTime()
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="WARNING")
    garbage = ProtocolError("GET /api/v3/time: response is not JSON (5 bytes): '{\"ser'")
    calls, step = failing(garbage, garbage, ExchangeUnavailable("GET /api/v3/time: 503"))
    try:
        retry = StartupRetry(60, clock=t.clock, sleep=t.sleep)
        assert await retry("server time", step) == "ok"
    finally:
        logger.remove(sink)
    assert calls[0] == 4 and retry.retries == 3
    assert all(0 < s <= 7.5 for s in t.slept), t.slept  # capped backoff (max 5 s x jitter)
    assert [m.split(" (")[0] for m in said] == ["startup: server time failed"] * 2
    assert "GET /api/v3/time: response is not JSON" in said[0]


async def test_an_auth_error_is_raised_at_once() -> None:
    t = FakeTime()
    calls, step = failing(AuthError("GET /api/v3/account: MEXC HTTP 200 code 700007"))
    with pytest.raises(AuthError, match="GET /api/v3/account"):
        await StartupRetry(60, clock=t.clock, sleep=t.sleep)("balances", step)
    assert calls[0] == 1 and t.slept == []


async def test_the_last_error_is_raised_once_the_time_is_up() -> None:
    t = FakeTime()
    calls, step = failing(*[ExchangeUnavailable(f"GET /api/v3/exchangeInfo: {i}")
                            for i in range(100)])
    with pytest.raises(ExchangeUnavailable, match="exchangeInfo"):
        await StartupRetry(10, clock=t.clock, sleep=t.sleep)("rules", step)
    assert 10 <= t.now <= 10.0001 and 2 < calls[0] < 100
