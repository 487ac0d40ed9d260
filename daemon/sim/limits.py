"""REST rate limits of the simulator, on the real clock (MEXC: weight per 10 s per API key or
IP; new order + cancel per second). Mutable at runtime through ``Simulator.limiter``."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class RateLimiter:
    """Sliding-window budgets on the real clock: weight per 10 s, orders+cancels per second."""

    def __init__(self, weight_per_10s: int | None, orders_per_s: int | None) -> None:
        self.weight_per_10s, self.orders_per_s = weight_per_10s, orders_per_s
        self._weights: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._orders: dict[str, deque[float]] = defaultdict(deque)

    def admit(self, who: str, weight: int, order_rate: bool) -> float | None:
        """None if admitted, else the seconds to wait (Retry-After)."""
        now = time.monotonic()
        if self.weight_per_10s is not None:
            q = self._weights[who]
            while q and q[0][0] <= now - 10:
                q.popleft()
            if sum(w for _, w in q) + weight > self.weight_per_10s:
                return q[0][0] + 10 - now
        if order_rate and self.orders_per_s is not None:
            oq = self._orders[who]
            while oq and oq[0] <= now - 1:
                oq.popleft()
            if len(oq) >= self.orders_per_s:
                return oq[0] + 1 - now
            oq.append(now)
        if self.weight_per_10s is not None:
            self._weights[who].append((now, weight))
        return None
