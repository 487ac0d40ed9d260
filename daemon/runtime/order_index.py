"""The orders a running daemon keeps in memory: the live ones and the newest few ended ones.

Live: open at the venue, owing fills (``unbooked_qty``), or LOST and still watched. Every other
order is ended: the newest ``RECENT_ENDED`` of them stay (a late update for one of them is
recognised and refused by its table), older ones are dropped from memory as new ones end. They
are not lost: Redis keeps them (``P orders`` and the archive, redis_archive) and a fill is
booked once by the booking script whatever memory holds. So what an evaluation scans, what the
process holds and what a restart loads are the same size after ten orders as after a hundred
thousand. ``load_window`` is what startup loads: the live orders (an ended one is history, read
from Redis by the commands; a late update for it changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from daemon.domain.client_ids import parse_client_order_id
from daemon.domain.orders import Order, OrderState
from daemon.errors import InputError

RECENT_ENDED = 10  # ended orders kept in memory besides the live ones
# ended orders a startup loads besides the unsettled ones (``P orders:open``) and those ended
# within the LOST watch: the newest one (a prefix written before orders owing fills were listed
# with the unsettled ones may hold one: the newest, as nothing is placed while one owes fills)
LOADED_ENDED = 1
ATTEMPT_CYCLES = 64  # decision cycles whose last attempt is remembered (client ids)


class LoadWindow(NamedTuple):
    """``RedisStore.load_state`` arguments for the daemon: besides the unsettled orders, the
    newest ended one, and every order ended since the LOST watch began (a LOST one among them is
    still watched)."""

    recent: int
    since_ms: int


def load_window(now_ms: int, lost_watch_s: float) -> LoadWindow:
    return LoadWindow(LOADED_ENDED, now_ms - int(lost_watch_s * 1000))


def _watched(order: Order, now_ms: int, watch_s: float) -> bool:
    return order.status is OrderState.LOST and not order.lost_watch_over(now_ms, watch_s)


class OrderIndex(Mapping[str, Order]):
    """client order id -> Order, with the live ones indexed (an evaluation reads them without
    a scan) and the last attempt per decision cycle."""

    def __init__(self, orders: Mapping[str, Order] = {}, *, now_ms: int = 0,
                 lost_watch_s: float = 0.0) -> None:
        self._orders: dict[str, Order] = {}
        self._unsettled: set[str] = set()  # open, or owing fills
        self._ended: dict[str, None] = {}  # the others, oldest first (insertion order)
        self._attempts: dict[str, int] = {}  # cycle id -> last attempt, least recent first
        for order in sorted(orders.values(), key=lambda o: (o.updated_ms, o.client_order_id)):
            self.put(order, now_ms=now_ms, lost_watch_s=lost_watch_s)

    def __getitem__(self, coid: str) -> Order:
        return self._orders[coid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._orders)

    def __len__(self) -> int:
        return len(self._orders)

    def put(self, order: Order, *, now_ms: int, lost_watch_s: float) -> None:
        """Hold ``order`` (its newest version); drop the oldest ended ones beyond the few."""
        coid = order.client_order_id
        self._orders[coid] = order
        self._ended.pop(coid, None)
        if order.is_open or order.unbooked_qty > 0:
            self._unsettled.add(coid)
        else:
            self._unsettled.discard(coid)
            self._ended[coid] = None
        self._note_attempt(coid)
        if len(self._ended) > RECENT_ENDED:
            self._prune(now_ms, lost_watch_s)

    def _prune(self, now_ms: int, watch_s: float) -> None:
        extra = len(self._ended) - RECENT_ENDED
        for coid in list(self._ended):
            if extra <= 0:
                return
            if _watched(self._orders[coid], now_ms, watch_s):
                continue
            del self._ended[coid]
            del self._orders[coid]
            extra -= 1

    def _note_attempt(self, coid: str) -> None:
        try:
            parsed = parse_client_order_id(coid)
        except InputError:
            return  # not one of ours by its id (an adopted order)
        last = self._attempts.pop(parsed.cycle_id, -1)
        self._attempts[parsed.cycle_id] = max(last, parsed.attempt)
        if len(self._attempts) > ATTEMPT_CYCLES:
            del self._attempts[next(iter(self._attempts))]

    def next_attempt(self, cycle_id: str) -> int:
        return self._attempts.get(cycle_id, -1) + 1

    def unsettled(self, exclude: str | None = None) -> list[Order]:
        return sorted((self._orders[c] for c in self._unsettled if c != exclude),
                      key=lambda o: o.created_ms)

    def open_orders(self) -> list[Order]:
        return [o for o in self.unsettled() if o.is_open]

    def booked_ids(self) -> set[str]:
        """Trade ids of the fills of the orders held (every one of them is booked: an order is
        stored and held with its fills only once they are)."""
        return {f.trade_id for o in self._orders.values() for f in o.fills}
