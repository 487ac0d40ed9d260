"""The supervisor restarts a task that dies, with backoff, and gives up on one that keeps
dying; the health check flags a stream down past its limit and a stuck evaluation."""

from __future__ import annotations

import asyncio

import pytest

from daemon.adapters.mexc.ws import WsStream, WsTimings
from daemon.config import parse_settings
from daemon.errors import ConfigError
from daemon.runtime.health import HealthCheck, stream_down_limit_s
from daemon.runtime.supervisor import RestartPolicy, Supervised, Supervisor, cancel_and_wait

FAST = RestartPolicy(backoff_initial_s=0.01, backoff_max_s=0.02, max_deaths=3, window_s=60)


async def test_a_task_that_dies_once_is_restarted() -> None:
    runs: list[int] = []
    forever = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run dies")
        await forever.wait()

    gave_up: list[Supervised] = []
    sup = Supervisor(FAST, on_give_up=gave_up.append)
    unit = sup.spawn("flaky", flaky)
    for _ in range(100):
        if len(runs) == 2:
            break
        await asyncio.sleep(0.01)
    assert runs == [0, 1]
    assert (unit.deaths, unit.restarts, unit.alive) == (1, 1, True)
    assert isinstance(unit.last_failure, RuntimeError)
    assert gave_up == [] and sup.gave_up is None
    await sup.stop()
    assert unit.task is not None and unit.task.cancelled()
    assert sup.units == ()


async def test_a_task_that_keeps_dying_makes_it_give_up() -> None:
    runs = 0

    async def doomed() -> None:
        nonlocal runs
        runs += 1
        raise ValueError("always")

    gave_up: list[Supervised] = []
    sup = Supervisor(FAST, on_give_up=gave_up.append)
    unit = sup.spawn("doomed", doomed)
    assert unit.task is not None
    await asyncio.wait_for(unit.task, 2)  # it ends: no more restarts
    assert runs == 3 and unit.deaths == 3 and unit.restarts == 2
    assert gave_up == [unit] and sup.gave_up is unit and not unit.alive


async def test_a_task_that_returns_counts_as_a_death() -> None:
    async def returns() -> None:
        return

    sup = Supervisor(FAST)
    unit = sup.spawn("returns", returns)
    assert unit.task is not None
    await asyncio.wait_for(unit.task, 2)
    assert unit.deaths == 3 and unit.last_failure is None and sup.gave_up is unit


async def test_deaths_outside_the_window_do_not_add_up() -> None:
    now = [0.0]
    runs = 0

    async def dies_now_and_then() -> None:
        nonlocal runs
        runs += 1
        now[0] += 100.0  # each run lasts longer than the window
        if runs >= 6:
            await asyncio.Event().wait()
        raise RuntimeError("once in a while")

    sup = Supervisor(RestartPolicy(backoff_initial_s=0.001, max_deaths=2, window_s=60),
                     clock=lambda: now[0])
    unit = sup.spawn("rare", dies_now_and_then)
    for _ in range(200):
        if runs == 6:
            break
        await asyncio.sleep(0.005)
    assert runs == 6 and unit.deaths == 5 and sup.gave_up is None and unit.alive
    await sup.stop()


def test_backoff_is_capped() -> None:
    policy = RestartPolicy(backoff_initial_s=1, backoff_max_s=30)
    assert [policy.delay(n) for n in (0, 1, 2, 5, 40)] == [1, 2, 4, 30, 30]


def _stream(name: str) -> WsStream:
    async def url() -> str:
        return "ws://127.0.0.1:1/ws"

    async def on_push(frame: bytes) -> None:
        return None

    timings = WsTimings(stale_after_s=5, backoff_max_s=2, open_timeout_s=1, ack_timeout_s=1)
    return WsStream(name, url, ["ch"], on_push, timings=timings)


def test_a_stream_down_past_its_limit_is_unhealthy() -> None:
    now = [1000.0]
    check = HealthCheck(clock=lambda: now[0])
    market, user = _stream("market"), _stream("user")
    limit = stream_down_limit_s(market)
    assert limit == 5 + 2 * (2 + 1 + 1)
    market.connected.set()
    assert check.problem([market, user], None, 600) is None  # user just went down
    now[0] += limit - 1
    assert check.problem([market, user], None, 600) is None  # reconnecting within its limit
    now[0] += 2
    assert check.problem([market, user], None, 600) == (
        f"user down for {limit + 1:.0f} s: its task stopped (not connected yet)")
    user.connected.set()
    assert check.problem([market, user], None, 600) is None
    user.connected.clear()
    assert check.problem([market, user], None, 600) is None  # a new outage starts afresh


def test_a_stuck_evaluation_is_unhealthy() -> None:
    check = HealthCheck(clock=lambda: 0.0)
    assert check.problem([], 599.0, 600) is None
    assert check.problem([], 601.0, 600) == "an evaluation has been running for 601 s"


async def test_a_task_that_swallows_its_cancel_is_cancelled_again() -> None:
    """A library can lose a cancellation (seen with the Redis client); a stop still ends."""
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    await cancel_and_wait([task], recancel_s=0.05)
    assert task.cancelled() and swallowed == 2


def test_the_restart_policy_comes_from_the_runtime_settings() -> None:
    runtime = parse_settings({"runtime": {"restart_backoff_s": 0.5, "restart_backoff_max_s": 4,
                                          "restart_max_deaths": 3,
                                          "restart_window_s": 60}}).runtime
    policy = RestartPolicy.from_settings(runtime)
    assert (policy.max_deaths, policy.window_s) == (3, 60)
    assert [policy.delay(a) for a in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    with pytest.raises(ConfigError, match=r"runtime\.restart_max_deaths"):
        parse_settings({"runtime": {"restart_max_deaths": 0}})
