"""Client-side rate limiting under MEXC's weights (PROTOCOL.md section 4).

One sliding 10-second window of request weights shared by every request of a client (the
conservative reading of the docs: one shared budget), per-endpoint caps per second (account 2/s,
order + cancel 12/s), and a pause that a 429/418 with Retry-After imposes on everything."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# endpoint bucket -> requests per second (DOC / DOC-NEW extra caps)
PER_SECOND_CAPS: dict[str, int] = {"account": 2, "order": 12, "batch": 2}


class _Window:
    """Sliding window of (time, amount) within ``span_s``."""

    __slots__ = ("_events", "_total", "limit", "span_s")

    def __init__(self, limit: int, span_s: float) -> None:
        self.limit = limit
        self.span_s = span_s
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.span_s:
            self._total -= self._events.popleft()[1]

    def wait_s(self, now: float, amount: int) -> float:
        """0 when ``amount`` fits now, else how long until enough has expired."""
        self._expire(now)
        excess = self._total + amount - self.limit
        if excess <= 0 or not self._events:
            return 0.0
        freed = 0
        for t, a in self._events:
            freed += a
            if freed >= excess:
                return max(t + self.span_s - now, 0.0) + 1e-3
        return self.span_s

    def add(self, now: float, amount: int) -> None:
        self._events.append((now, amount))
        self._total += amount

    @property
    def used(self) -> int:
        return self._total


class RateLimiter:
    def __init__(self, weight_per_10s: int, *, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        if weight_per_10s < 1:
            raise ValueError(f"weight_per_10s must be >= 1, got {weight_per_10s}")
        self._clock = clock
        self._sleep = sleep
        self._weights = _Window(weight_per_10s, 10.0)
        self._buckets = {name: _Window(cap, 1.0) for name, cap in PER_SECOND_CAPS.items()}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited_s = 0.0  # total time spent waiting (a figure for logs and tests)

    def pause(self, seconds: float) -> None:
        """Stop every request for ``seconds`` (a 429/418 Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    @property
    def paused_for_s(self) -> float:
        return max(self._paused_until - self._clock(), 0.0)

    @property
    def used_weight(self) -> int:
        self._weights._expire(self._clock())
        return self._weights.used

    async def acquire(self, weight: int, bucket: str | None = None) -> None:
        """Wait until a request of ``weight`` (in ``bucket``, if capped) fits, then book it."""
        window = self._buckets.get(bucket) if bucket else None
        async with self._lock:  # FIFO: a heavy request is not starved by light ones
            while True:
                now = self._clock()
                delay = max(self._paused_until - now, self._weights.wait_s(now, weight),
                            window.wait_s(now, 1) if window else 0.0)
                if delay <= 0:
                    break
                self.waited_s += delay
                await self._sleep(delay)
            self._weights.add(now, weight)
            if window is not None:
                window.add(now, 1)
