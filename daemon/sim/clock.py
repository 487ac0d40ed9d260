"""The simulator's clocks: simulated time (``SimClock``) and the rule that checks a signed
request's ``timestamp`` (``SigningWindow``).

One clock: with ``Realism.one_clock`` (the default) everything the simulator reports is
simulated time, /api/v3/time and exchangeInfo.serverTime included, and simulated time runs
``speed`` times faster than the real clock.

The timestamp rule. MEXC accepts a signed request iff ``timestamp < serverTime + 1000`` and
``serverTime - timestamp <= recvWindow`` (PROTOCOL.md 1). A real client's clock ticks at real
speed: either it is the host's clock (NTP, e.g. ccxt) or the host's clock plus an offset it
measured once from /api/v3/time (the daemon; it re-measures on 700003). At ``speed`` > 1
simulated time runs away from any fixed offset (at 60x, by 59 s every real second), so
checking against the simulated clock alone would refuse every correct client a moment after
it synced. So the simulator applies MEXC's rule, unchanged (same 1000 ms lead, same
recvWindow, measured in real milliseconds), against each reference clock a correct client can
be following:

- the real clock (a client that never syncs), and
- the real clock plus each offset ``serverTime - real time`` the simulator handed out through
  /api/v3/time or exchangeInfo (the most recent ``MAX_OFFSETS`` distinct ones): a client that
  synced to one of those answers.

A request passes if it passes against one of them. That is as strict as MEXC for each kind of
correct client: a stale or replayed request is refused after recvWindow, a clock more than
1 s ahead of every reference is refused, a timestamp that no answer of the simulator could
have produced (e.g. seconds instead of milliseconds, or a simulated time the client guessed
itself) is refused. At speed 1 the offsets all coincide and the rule is MEXC's exactly."""

from __future__ import annotations

import time
from collections import deque

MAX_OFFSETS = 256


def real_ms() -> int:
    return time.time_ns() // 1_000_000


class SimClock:
    """Simulated market time: ``start_ms`` plus real elapsed time times ``speed``."""

    def __init__(self, start_ms: int, speed: float) -> None:
        self.speed = speed
        self._base_ms = start_ms
        self._anchor = time.monotonic()
        self._paused_at: int | None = None

    def now_ms(self) -> int:
        if self._paused_at is not None:
            return self._paused_at
        return self._base_ms + int((time.monotonic() - self._anchor) * self.speed * 1000)

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self.now_ms()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._base_ms, self._anchor, self._paused_at = self._paused_at, time.monotonic(), None

    def advance(self, ms: int) -> None:
        """Jump simulated time forward (tests)."""
        if self._paused_at is not None:
            self._paused_at += ms
        else:
            self._base_ms += ms


class SigningWindow:
    """MEXC's timestamp/recvWindow rule against the real clock and every clock offset handed
    out by the server-time endpoints (see the module docstring)."""

    LEAD_MS = 1000  # a timestamp may be at most this far ahead of the server

    def __init__(self, max_offsets: int = MAX_OFFSETS) -> None:
        self._offsets: deque[int] = deque(maxlen=max_offsets)

    def handed_out(self, server_ms: int, now_real_ms: int) -> None:
        """Record that ``server_ms`` was reported as the server time at ``now_real_ms``."""
        offset = server_ms - now_real_ms
        if offset == 0 or any(abs(offset - o) <= 1 for o in self._offsets):
            return  # the real clock is always a reference; +-1 ms is rounding
        self._offsets.append(offset)

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(self._offsets)

    def accepts(self, timestamp: int, recv_window: int, now_real_ms: int) -> bool:
        for offset in (0, *self._offsets):
            ref = now_real_ms + offset
            if timestamp < ref + self.LEAD_MS and ref - timestamp <= recv_window:
                return True
        return False
