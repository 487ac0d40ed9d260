"""Is the loop healthy? The systemd watchdog is fed only while it is: every stream connected
or reconnecting within its limit, and no evaluation running for longer than a bound. A stream
down for longer is named with why (its subscription refused, its connects failing, its task
stopped), and the same line goes to the status. The caller adds problems of its own (the
market stream silent while REST shows trades: ``MarketFeed.deaf``).

A stream may be down for ``stale_after_s`` (the time its own watchdog needs to notice a
silent connection) plus ``RECONNECTS_ALLOWED`` full reconnect attempts at the longest backoff
(connect and subscribe timeouts included). An evaluation may run for the order timeout
several times over (it follows an order to its end, cancels, verifies, books the fills)
but never less than ``EVALUATION_MIN_LIMIT_S``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from daemon.adapters.mexc.ws import WsStream

RECONNECTS_ALLOWED = 2
EVALUATION_MIN_LIMIT_S = 600.0
EVALUATION_ORDER_TIMEOUTS = 3


def stream_down_limit_s(stream: WsStream) -> float:
    t = stream.timings
    return t.stale_after_s + RECONNECTS_ALLOWED * (
        t.backoff_max_s + t.open_timeout_s + t.ack_timeout_s)


def evaluation_limit_s(order_timeout_s: float) -> float:
    return max(EVALUATION_MIN_LIMIT_S, EVALUATION_ORDER_TIMEOUTS * order_timeout_s)


def why_down(stream: WsStream) -> str:
    reason = stream.down_reason or "not connected yet"
    return reason if stream.running else f"its task stopped ({reason})"


class HealthCheck:
    """Samples the streams each time it is asked; remembers since when each one is down."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._down_since: dict[int, float] = {}

    def problem(self, streams: Iterable[WsStream], evaluation_running_s: float | None,
                evaluation_limit: float, extra: Iterable[str | None] = ()) -> str | None:
        """None when healthy, else why not (one line)."""
        now = self._clock()
        problems: list[str] = [p for p in extra if p]
        seen: set[int] = set()
        for stream in streams:
            key = id(stream)
            seen.add(key)
            if stream.connected.is_set():
                self._down_since.pop(key, None)
                continue
            down_s = now - self._down_since.setdefault(key, now)
            if down_s > stream_down_limit_s(stream):
                problems.append(f"{stream.name} down for {down_s:.0f} s: {why_down(stream)}")
        for key in set(self._down_since) - seen:  # a stream replaced (reload)
            del self._down_since[key]
        if evaluation_running_s is not None and evaluation_running_s > evaluation_limit:
            problems.append(f"an evaluation has been running for {evaluation_running_s:.0f} s")
        return "; ".join(problems) or None
