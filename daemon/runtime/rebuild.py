"""Redis that lost the books, on an account with history (issue 11, section 2).

- ``guard_empty_prefix`` (startup, from the composition root): in ``mode: live`` with API
  keys, a key prefix WITHOUT ``P schema`` is only treated as new when the exchange's recent
  history (allOrders over its 7 days, and the open orders) holds no order with our client-id
  prefix. Otherwise the daemon refuses to start (StateError) and says what it found and the
  two ways out: ``rebalancer state rebuild`` or ``rebalancer state rebuild --fresh``.
- ``rebuild_from_exchange``: the books reconstructed from all the history MEXC keeps
  (daemon.adapters.mexc.history for the reading, daemon.domain.rebuild for the computation),
  ready for ``daemon.adapters.redis_install.install_books``.
- ``fresh_books``: a deliberate new start (schema, epoch, books version 1 and the config's
  initial cost basis when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from loguru import logger

from daemon.adapters.mexc.history import ExchangeHistory, read_history, recent_orders
from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_install import Books
from daemon.adapters.redis_records import TradeCounters
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, Mode, Settings
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import ExchangeRules
from daemon.domain.rebuild import RebuildInput, RebuiltBooks, our_reports, rebuild_books
from daemon.errors import StateError

WAYS_OUT = ("rebuild the books from the exchange with `rebalancer state rebuild -c FILE`, "
            "or start over deliberately, forgetting that history, with `rebalancer state "
            "rebuild -c FILE --fresh`")


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def has_schema(store: RedisStore) -> bool:
    key = store.key("schema")
    return await store.call("GET schema", store.client.get(key)) is not None


async def guard_empty_prefix(store: RedisStore, rest: MexcRest, settings: Settings,
                             creds: Credentials | None) -> None:
    """Refuse (StateError) a prefix without books on an account whose recent history holds
    orders of ours; see the module docstring. Writes nothing."""
    if await has_schema(store):
        return
    if settings.mode is not Mode.LIVE or creds is None:
        why = "no API keys" if creds is None else f"mode {settings.mode.value}"
        logger.info("{} holds no books; exchange history not checked ({})", store.prefix, why)
        return
    prefix = settings.execution.client_order_prefix
    now = await rest.server_time_ms()
    paged = await recent_orders(rest, settings.symbol, now)
    reports = {r.order_id: r for r in paged.rows}
    for r in await rest.open_orders(settings.symbol):
        reports.setdefault(r.order_id, r)
    mine = our_reports(list(reports.values()), prefix)
    if not mine:
        logger.info("{} holds no books and the exchange shows no order with prefix {!r} in "
                    "the last 7 days: starting with new books", store.prefix, prefix)
        return
    newest = mine[0]
    raise StateError(
        f"{store.key('schema')} is missing: Redis holds no books under {store.prefix!r}, but "
        f"the exchange shows {len(mine)} order(s) of ours ({prefix!r} client ids) for "
        f"{settings.symbol} (placed in the last 7 days or still open), the newest "
        f"{newest.client_order_id} at "
        f"{utc_text(newest.time_ms)} ({newest.status.value}). Starting as new would reset "
        f"the cost basis, core floor and trade counters. Either {WAYS_OUT}.")


@dataclass(frozen=True, slots=True)
class Rebuild:
    """A rebuild computed (not written yet): the books, the counters on the daemon's clock,
    what to install, the history read, and what could not be known, in words."""

    books: RebuiltBooks
    counters: TradeCounters
    install: Books
    history: ExchangeHistory
    rules: ExchangeRules
    base_total: Decimal
    initial_cost: Decimal | None
    unknown: tuple[str, ...]


async def rebuild_from_exchange(rest: MexcRest, settings: Settings, local_now_ms: int) -> Rebuild:
    """Read the history and compute the books (see daemon.domain.rebuild)."""
    rules = await rest.exchange_rules(settings.symbol)
    balances = await rest.account()
    history = await read_history(rest, settings.symbol)
    base = balances.get(rules.base_asset)
    base_total = base.total if base else Decimal(0)
    reports = dict(history.orders)
    reports.update({k: v for k, v in history.lookups.items() if v is not None})
    initial = settings.strategy.initial_cost_basis
    books = rebuild_books(RebuildInput(
        reports=reports, trades=history.trades, prefix=settings.execution.client_order_prefix,
        base_asset=rules.base_asset, quote_asset=rules.quote_asset, base_total=base_total,
        initial_cost=initial, core_pct=settings.strategy.core_pct,
        recent_orders_max=settings.redis.recent_orders_max, now_ms=history.now_ms))
    shift = history.now_ms - local_now_ms  # exchange clock minus ours
    counters = TradeCounters()
    for t in books.trade_times_ms:
        counters = counters.after_trade(t - shift)
    install = Books(books_version=1, cost_basis=books.cost.to_dict(),
                    core_floor=books.core_floor, core_credit=books.core_credit,
                    core_floor_ms=local_now_ms, counters=counters,
                    open_orders=books.open_orders, closed_orders=books.closed_orders,
                    fills=books.fills)
    return Rebuild(books, counters, install, history, rules, base_total, initial,
                   _unknown(books, history, rules, initial))


def _unknown(books: RebuiltBooks, h: ExchangeHistory, rules: ExchangeRules,
             initial: Decimal | None) -> tuple[str, ...]:
    out = [f"orders placed before {utc_text(h.orders_from_ms)} (allOrders keeps 7 days) "
           "unless a trade of theirs or the open orders name them",
           f"trades before {utc_text(h.trades_from_ms)} (myTrades keeps one month): their "
           "fills, PnL and counters are missing; trades_total counts only the trades found",
           "the core floor is an estimate: core_pct x the base held before the first fill "
           "found, raised by each buy of ours since"]
    if initial is None and books.base_before > 0:
        out.append(f"the cost of {books.base_before} {rules.base_asset} held before the first "
                   "fill found (or moved by manual trades, deposits, withdrawals) is unknown: "
                   "set strategy.initial_cost_basis to give it one")
    if books.foreign_trades:
        out.append(f"{books.foreign_trades} trade(s) of {rules.symbol} not of ours (manual, "
                   f"another bot; net {books.foreign_net_base} {rules.base_asset}) are not "
                   "booked, as the daemon never books them")
    out += [f"order {oid}: its lookup failed ({why}); its trades are counted as not ours"
            for oid, why in sorted(h.failed.items())]
    unknown_orders = sorted(k for k, v in h.lookups.items() if v is None)
    if unknown_orders:
        out.append(f"{len(unknown_orders)} order(s) of trades found are unknown to GET "
                   f"/api/v3/order: {', '.join(unknown_orders[:5])}")
    return (*out, *h.problems, *books.notes)


async def fresh_books(rest: MexcRest, settings: Settings) -> tuple[Books, str]:
    """A deliberate new start and a sentence saying what its cost basis is."""
    initial = settings.strategy.initial_cost_basis
    if initial is None:
        return Books(books_version=1), (
            "no cost basis written: strategy.initial_cost_basis is not set, so the daemon "
            "initialises it at its start as on a first start (from the account's last trades)")
    rules = await rest.exchange_rules(settings.symbol)
    base = (await rest.account()).get(rules.base_asset)
    held = base.total if base else Decimal(0)
    cost = CostBasis.initial(initial, held)
    return Books(books_version=1, cost_basis=cost.to_dict()), (
        f"cost basis {initial} {rules.quote_asset} per {rules.base_asset} over the "
        f"{held} {rules.base_asset} held now (strategy.initial_cost_basis)")
