"""Reading the account's order and trade history for one symbol, over all that MEXC keeps
(PROTOCOL.md 2.2): GET /api/v3/allOrders answers the last 7 days only (a window of at most
7 days, ``limit`` at most 1000), GET /api/v3/myTrades the last month only (``limit`` at most
100, more rows in the window stay unsaid).

Both are read in time windows of at most ``WINDOW_MS`` (24 h, the default window of
allOrders), each asked with an explicit ``startTime`` and ``endTime``. A FULL page (as many
rows as ``limit``) means the window may hold more: it is split in two halves and each half is
asked again, down to single milliseconds. Neighbouring windows share their boundary
millisecond (``[s, m]`` and ``[m, e]``), so whether the exchange reads ``endTime`` as inclusive
or exclusive, no row at a boundary is lost; a row answered twice is kept once (deduplicated by
``orderId`` / trade ``id``). This also keeps rows at EQUAL timestamps: they are never cut by a
"continue after the last row's time". Which end of a full page the exchange keeps (oldest or
newest rows) does not matter. A full page whose rows all carry ONE millisecond cannot be split:
that millisecond is reported in ``problems`` (some of its rows may be missing).

Orders of the trades that allOrders no longer reaches are asked for one by one (GET
/api/v3/order by orderId): ``lookups``; a failed lookup is reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from daemon.adapters.mexc.rest import MexcRest
from daemon.domain.models import Fill, OrderReport
from daemon.errors import ExchangeError, FatalExchangeError, UnknownOrder

DAY_MS = 86_400_000
WINDOW_MS = DAY_MS
ORDERS_REACH_MS = 7 * DAY_MS  # allOrders: the last 7 days
TRADES_REACH_MS = 30 * DAY_MS  # myTrades: the last month (30 days, the shorter reading)
MARGIN_MS = 5 * 60_000  # stay this far inside a reach: a start just past it may be refused
ORDERS_LIMIT = 1000
TRADES_LIMIT = 100
MAX_REQUESTS = 5000  # per endpoint; weight 10 each: about 20 minutes at 400 per 10 s

T = TypeVar("T")
PageCall = Callable[[int, int, int], Awaitable[list[T]]]  # (start_ms, end_ms, limit) -> rows


@dataclass(slots=True)
class Paged(Generic[T]):
    """Rows of a time range, deduplicated, oldest first; ``requests`` sent; ``problems``:
    windows whose rows may be incomplete, in words."""

    rows: list[T] = field(default_factory=list)
    requests: int = 0
    problems: list[str] = field(default_factory=list)


async def read_paged(call: PageCall[T], start_ms: int, end_ms: int, *, limit: int,
                     key: Callable[[T], Hashable], time_of: Callable[[T], int],
                     window_ms: int = WINDOW_MS, what: str = "rows",
                     max_requests: int = MAX_REQUESTS) -> Paged[T]:
    """Every row of ``[start_ms, end_ms]``: see the module docstring. A full page with rows
    outside the window asked for is not split (the exchange ignored the window: splitting
    would never end); past ``max_requests`` the reading stops. Both are in ``problems``."""
    if end_ms < start_ms or window_ms < 2 or limit < 1:
        raise ValueError(f"bad history range [{start_ms}, {end_ms}] window {window_ms} "
                         f"limit {limit}")
    out: Paged[T] = Paged()
    seen: dict[Hashable, T] = {}
    full_ms: set[int] = set()
    todo = [(s, min(s + window_ms, end_ms)) for s in range(start_ms, end_ms, window_ms)]
    todo = todo or [(start_ms, end_ms + 1)]
    todo.reverse()  # a stack: oldest window first
    while todo:
        if out.requests >= max_requests:
            out.problems.append(f"{what}: gave up after {max_requests} requests; "
                                f"{len(todo)} window(s) not read")
            break
        s, e = todo.pop()
        rows = await call(s, e, limit)
        out.requests += 1
        for row in rows:
            seen.setdefault(key(row), row)
        if len(rows) < limit:
            continue
        times = {time_of(r) for r in rows}
        if min(times) < s or max(times) > e:
            out.problems.append(f"{what}: the full page for [{s}, {e}] holds rows outside it "
                                "(the window was not honoured); not split further")
        else:
            todo += _split(s, e, times, full_ms)
    out.rows = sorted(seen.values(), key=lambda r: (time_of(r), str(key(r))))
    out.problems += [f"{what}: a full page of {limit} rows at the millisecond {t} "
                     f"({utc_ms(t)}); more rows there may exist and cannot be asked for"
                     for t in sorted(full_ms)]
    return out


def _split(s: int, e: int, times: set[int], full_ms: set[int]) -> list[tuple[int, int]]:
    """The windows to ask after a full page for ``[s, e]`` whose rows carry ``times`` (to push
    on the stack: the last one is asked first). A full page within one millisecond cannot be
    split: that millisecond goes to ``full_ms``."""
    if e - s >= 2:
        mid = (s + e) // 2
        return [(mid, e), (s, mid)]  # both halves share ``mid``: no row lost at the cut
    if e == s:
        full_ms.add(s)
        return []
    if len(times) == 1:
        (t,) = times
        full_ms.add(t)
        return [(o, o) for o in (s, e) if o != t]  # the other millisecond (inclusive end)
    return [(e, e), (s, s)]


def utc_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class ExchangeHistory:
    """What the exchange still says about the symbol. ``orders``: allOrders since
    ``orders_from_ms`` plus the open orders (by orderId); ``trades``: myTrades since
    ``trades_from_ms``; ``lookups``: GET /order by orderId for trades whose order allOrders
    no longer reaches (None: the exchange does not know it); ``failed``: orderId -> why its
    lookup failed."""

    now_ms: int
    orders_from_ms: int
    trades_from_ms: int
    orders: dict[str, OrderReport]
    trades: list[Fill]
    lookups: dict[str, OrderReport | None]
    failed: dict[str, str]
    requests: int
    problems: tuple[str, ...]


async def recent_orders(rest: MexcRest, symbol: str, now_ms: int) -> Paged[OrderReport]:
    """allOrders over the last 7 days (its whole reach), paged."""
    async def call(start: int, end: int, limit: int) -> list[OrderReport]:
        return await rest.all_orders(symbol, start_ms=start, end_ms=end, limit=limit)

    return await read_paged(call, now_ms - ORDERS_REACH_MS + MARGIN_MS, now_ms,
                            limit=ORDERS_LIMIT, key=lambda o: o.order_id,
                            time_of=lambda o: o.time_ms, what="allOrders")


async def recent_trades(rest: MexcRest, symbol: str, now_ms: int) -> Paged[Fill]:
    """myTrades over the last month (its whole reach), paged."""
    async def call(start: int, end: int, limit: int) -> list[Fill]:
        return await rest.my_trades(symbol, start_ms=start, end_ms=end, limit=limit)

    return await read_paged(call, now_ms - TRADES_REACH_MS + MARGIN_MS, now_ms,
                            limit=TRADES_LIMIT, key=lambda t: t.trade_id,
                            time_of=lambda t: t.time_ms, what="myTrades")


async def read_history(rest: MexcRest, symbol: str) -> ExchangeHistory:
    """All that MEXC keeps about ``symbol`` for this account (see the module docstring).
    Exchange errors of the paged reads are raised: a partial history is never used."""
    now = await rest.server_time_ms()
    orders = await recent_orders(rest, symbol, now)
    trades = await recent_trades(rest, symbol, now)
    by_id = {o.order_id: o for o in orders.rows}
    for report in await rest.open_orders(symbol):  # asked last (the newest word), and an
        by_id[report.order_id] = report  # open order may be older than allOrders' 7 days
    missing = sorted({t.order_id for t in trades.rows} - by_id.keys())
    lookups, failed = await _lookup_orders(rest, symbol, missing)
    return ExchangeHistory(
        now_ms=now, orders_from_ms=now - ORDERS_REACH_MS + MARGIN_MS,
        trades_from_ms=now - TRADES_REACH_MS + MARGIN_MS, orders=by_id, trades=trades.rows,
        lookups=lookups, failed=failed,
        requests=orders.requests + trades.requests + 2 + len(missing),
        problems=(*orders.problems, *trades.problems))


async def _lookup_orders(rest: MexcRest, symbol: str, order_ids: Iterable[str]) -> tuple[
        dict[str, OrderReport | None], dict[str, str]]:
    lookups: dict[str, OrderReport | None] = {}
    failed: dict[str, str] = {}
    for order_id in order_ids:
        try:
            lookups[order_id] = await rest.get_order(symbol, order_id=order_id)
        except UnknownOrder:
            lookups[order_id] = None
        except FatalExchangeError as exc:
            if exc.code is None and exc.http_status is None:
                raise  # not an answer about this order (e.g. no credentials)
            failed[order_id] = str(exc)
        except ExchangeError as exc:
            failed[order_id] = str(exc)
    return lookups, failed
