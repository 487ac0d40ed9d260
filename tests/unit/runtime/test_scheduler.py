"""Evaluation scheduling: clock-aligned interval, one evaluation at a time, coalescing."""

from __future__ import annotations

import asyncio
import time

from daemon.runtime.scheduler import EvaluationScheduler, next_aligned


def test_next_aligned() -> None:
    assert next_aligned(1000.0, 900) == 1800
    assert next_aligned(1800.0, 900) == 2700  # strictly after
    assert next_aligned(1799.999, 900) == 1800


async def test_interval_runs_aligned_to_the_clock() -> None:
    stamps: list[float] = []

    async def evaluate(reason: str) -> None:
        assert reason == "schedule"
        stamps.append(time.time())

    sched = EvaluationScheduler(evaluate, interval_s=1)
    sched.start()
    await asyncio.sleep(2.6)
    await sched.stop()
    assert len(stamps) >= 2
    for t in stamps:
        assert t - int(t) < 0.25  # fired just after a whole second


async def test_triggers_during_an_evaluation_coalesce_into_one() -> None:
    reasons: list[str] = []
    concurrent = 0
    peak = 0

    async def evaluate(reason: str) -> None:
        nonlocal concurrent, peak
        concurrent += 1
        peak = max(peak, concurrent)
        reasons.append(reason)
        await asyncio.sleep(0.2)
        concurrent -= 1

    sched = EvaluationScheduler(evaluate, interval_s=3600)
    sched.start()
    sched.trigger("crossover")
    await asyncio.sleep(0.05)
    assert sched.busy
    for _ in range(5):
        sched.trigger("schedule")
    await asyncio.sleep(0.6)
    await sched.stop()
    assert reasons == ["crossover", "schedule"]
    assert sched.coalesced == 4
    assert peak == 1


async def test_failing_evaluation_does_not_stop_the_loop() -> None:
    calls: list[str] = []

    async def evaluate(reason: str) -> None:
        calls.append(reason)
        if len(calls) == 1:
            raise RuntimeError("boom")

    sched = EvaluationScheduler(evaluate, interval_s=3600)
    sched.start()
    sched.trigger("a")
    await asyncio.sleep(0.05)
    sched.trigger("b")
    await asyncio.sleep(0.05)
    await sched.stop()
    assert calls == ["a", "b"]
