"""The one way to resolve an order: ask the exchange about it by client order id.

    query(...)    one question           -> Found(report) | NotFound(misses) | NoAnswer(error)
    resolve(...)  asked until conclusive -> the same three cases:
        Found      the exchange reported the order (at once, whatever came before);
        NotFound   ``patience.misses`` answers "does not exist" (-2013/-2011), the last of them
                   at least ``patience.grace_s`` after the order was sent. Neither alone is
                   enough: MEXC answers -2013 to a query by client id, often and for a few
                   seconds, right after a create (PROTOCOL.md 9), and concluding "never placed"
                   about an order that rests on the book would let a second one be sent;
        NoAnswer   the queries or the tolerated failures ran out first. A failed query (5xx,
                   timeout, unreadable reply) never counts as a miss.
    settle_unknown(...)  resolve() for an order whose submit is unresolved, applying what it
        learned: the report, an OrderNotFound per miss, and the LOST conclusion
        (OrderMarkedLost) after the configured misses.

An order whose exchange id is known is asked about by that id (the -2013 window applies only to
queries by client id). Used by the executor (a submit whose outcome is unknown), by the startup
reconciliation and by the watch over LOST orders; each picks its ``Patience``. Between two
queries it waits ``backoff_s(attempt, first_s=0.25, max_s=execution.poll_max_interval_s)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExecutionSettings
from daemon.domain.backoff import backoff_s
from daemon.domain.models import OrderReport
from daemon.domain.orders import (
    OrderEvent,
    OrderMarkedLost,
    OrderNotFound,
    OrderStatusReported,
)
from daemon.errors import ExchangeError, UnknownOrder

FIRST_DELAY_S = 0.25


@dataclass(frozen=True, slots=True)
class Found:
    report: OrderReport


@dataclass(frozen=True, slots=True)
class NotFound:
    misses: int  # "does not exist" answers received


@dataclass(frozen=True, slots=True)
class NoAnswer:
    error: ExchangeError | None  # the last failed query; None when none failed


Lookup = Found | NotFound | NoAnswer


@dataclass(frozen=True, slots=True)
class Patience:
    """How long to keep asking: ``misses`` "does not exist" answers conclude NotFound; at most
    ``queries`` queries; ``failures`` failed queries end it (NoAnswer)."""

    misses: int
    queries: int
    failures: int
    max_delay_s: float
    grace_s: float = 0.0  # no NotFound before the order has been unknown this long

    @classmethod
    def after_submit(cls, ex: ExecutionSettings) -> Patience:
        """A submit whose outcome is unknown: ask until the configured misses, riding out
        failed queries (up to four times as many queries in all)."""
        n = ex.unknown_order_retries
        return cls(misses=n, queries=n * 4, failures=n * 4, max_delay_s=ex.poll_max_interval_s,
                   grace_s=ex.not_found_grace_s)

    @classmethod
    def at_startup(cls, ex: ExecutionSettings, *, unconfirmed: bool) -> Patience:
        """Startup reconciliation: an order never confirmed by the exchange (INTENT/SENT) gets
        the configured misses, any other one question; the first failed query leaves it for
        later (the executor follows it before the next decision)."""
        n = ex.unknown_order_retries if unconfirmed else 1
        return cls(misses=n, queries=n, failures=1, max_delay_s=ex.poll_max_interval_s,
                   grace_s=ex.not_found_grace_s if unconfirmed else 0.0)

    @classmethod
    def once(cls, ex: ExecutionSettings) -> Patience:
        return cls(misses=1, queries=1, failures=1, max_delay_s=ex.poll_max_interval_s)


async def query(rest: MexcRest, symbol: str, coid: str, order_id: str | None = None) -> Lookup:
    """One GET /api/v3/order: by the exchange's id when known, else by client order id."""
    try:
        if order_id:
            return Found(await rest.get_order(symbol, order_id=order_id))
        return Found(await rest.get_order(symbol, client_order_id=coid))
    except UnknownOrder:
        return NotFound(1)
    except ExchangeError as exc:
        logger.bind(client_order_id=coid).warning("order query failed ({})", exc)
        return NoAnswer(exc)


async def resolve(rest: MexcRest, symbol: str, coid: str, patience: Patience, *,
                  on_miss: Callable[[], Awaitable[None]] | None = None,
                  order_id: str | None = None, age_s: float = 0.0) -> Lookup:
    """Ask until the answer is conclusive (see the module docstring); ``on_miss`` is awaited
    after every "does not exist" answer. ``age_s``: how long ago the order was sent."""
    loop = asyncio.get_running_loop()
    grace_until = loop.time() + patience.grace_s - age_s
    misses = failures = attempt = 0
    error: ExchangeError | None = None
    while attempt < patience.queries or (misses and loop.time() < grace_until):
        if attempt:
            await asyncio.sleep(backoff_s(attempt - 1, first_s=FIRST_DELAY_S,
                                          max_s=patience.max_delay_s))
        attempt += 1
        match await query(rest, symbol, coid, order_id):
            case Found() as found:
                return found
            case NotFound():
                misses += 1
                if on_miss is not None:
                    await on_miss()
                if misses >= patience.misses and loop.time() >= grace_until:
                    return NotFound(misses)
            case NoAnswer(error=error):
                failures += 1
                if failures >= patience.failures:
                    break
    return NoAnswer(error)


Apply = Callable[[OrderEvent], Awaitable[None]]


async def settle_unknown(rest: MexcRest, symbol: str, coid: str, patience: Patience,
                         apply: Apply, now_ms: Callable[[], int], *,
                         age_s: float = 0.0) -> Lookup:
    """Resolve an order whose submit is unresolved and ``apply`` what was learned: the
    exchange's report; an OrderNotFound per miss; after ``patience.misses`` of them the order
    is LOST (placed nowhere as far as anyone can tell; watched for late fills). NoAnswer
    changes nothing: the order stays unresolved and is asked about again."""
    result = await resolve(rest, symbol, coid, patience,
                           on_miss=lambda: apply(OrderNotFound(now_ms())), age_s=age_s)
    match result:
        case Found(report):
            await apply(OrderStatusReported(report))
        case NotFound(misses):
            await apply(OrderMarkedLost(f"not found after {misses} queries", now_ms()))
            logger.bind(client_order_id=coid).error(
                "order not found after {} queries: marked LOST, watched for late fills", misses)
    return result
