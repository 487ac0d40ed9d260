"""``rebalancer state rebuild -c FILE [--fresh] [--dry-run]``: when Redis lost the books.

Without ``--fresh`` the books are rebuilt from the exchange (daemon.runtime.rebuild): every
order of ours allOrders still knows (7 days) or a trade of the last month names, their fills,
the cost basis, an estimated core floor and the trade counters; the command prints what it
rebuilt and what it could not know. ``--fresh`` starts over deliberately: only the schema, a
new epoch, books version 0 and the config's initial cost basis (if set) are written.

Both write into the key prefix ATOMICALLY and only when it holds no books (keys ``lease``,
``heartbeat``, ``halted`` may exist and are left alone). ``--dry-run`` prints without writing
(also beside existing books: e.g. to compare them with the exchange).

For a portfolio of several assets every pair's books are rebuilt, each under its own prefix
(``bot:<PAIR>:``), or with ``--asset`` one asset's only; every prefix is checked before the
exchange is read, and nothing is written unless every pair's rebuild was computed.

Exit codes: 0 written (or printed with --dry-run); 2 bad config or no API keys; 1 the prefix
already holds books (they are named; nothing is written), Redis or the exchange failed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_install import Books, install_books, require_empty
from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_config_arg
from daemon.config import Credentials, Settings, load_config, load_credentials
from daemon.errors import ConfigError, InputError, RebalancerError, StateError, StoreUnavailable
from daemon.runtime.portfolio_pairs import pair_specs
from daemon.runtime.rebuild import Rebuild, fresh_books, rebuild_from_exchange, utc_text


def register(sub: Any) -> None:
    p = sub.add_parser("state", help="the books in Redis (rebuild them from the exchange)")
    psub = p.add_subparsers(dest="state_command", metavar="SUBCOMMAND", required=True)
    r = psub.add_parser(
        "rebuild", help="rebuild the books from the exchange into an empty key prefix",
        description="Rebuild orders, fills, cost basis, core floor and trade counters from "
                    "the exchange's history (allOrders: 7 days, myTrades: one month) into a "
                    "key prefix that holds no books. Needs the API keys.")
    add_config_arg(r)
    r.add_argument("--fresh", action="store_true",
                   help="start over deliberately: write only a new schema and epoch (and the "
                        "config's initial cost basis), forgetting the exchange history")
    r.add_argument("--dry-run", action="store_true",
                   help="print what would be written, write nothing")
    r.add_argument("--asset", metavar="ASSET",
                   help="a portfolio's: rebuild only this asset's pair books (default: every "
                        "pair's, each under its own prefix)")
    r.set_defaults(handler=handle_rebuild)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def handle_rebuild(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    creds = load_credentials()
    if creds is None:
        raise ConfigError("state rebuild needs the API keys (MEXC_API_KEY and MEXC_API_SECRET "
                          "in the environment or in $CREDENTIALS_DIRECTORY), as `rebalancer "
                          "run` reads them; none were found")
    pairs = pairs_to_rebuild(settings, args.asset)
    return asyncio.run(_rebuild(pairs, creds, fresh=args.fresh, dry_run=args.dry_run))


def pairs_to_rebuild(settings: Settings, asset: str | None) -> list[tuple[str, Settings]]:
    """(base asset, single-pair settings) of every pair whose books are rebuilt: the single
    pair; a portfolio's every pair (each with its symbol and books prefix), or ``asset``'s."""
    p = settings.portfolio
    if p is None:
        if asset is not None:
            raise InputError("--asset: only for a portfolio (portfolio.targets); this config "
                             f"trades the single pair {settings.symbol}")
        return [("", settings)]
    specs = pair_specs(settings)
    chosen = [(s.asset, s.settings) for s in specs
              if asset is None or s.asset == asset.upper()]
    if not chosen:
        raise InputError(f"--asset: {asset} is not in portfolio.targets "
                         f"({', '.join(p.targets)})")
    return chosen


async def _require_empty(stores: list[RedisStore], pairs: list[tuple[str, Settings]]
                         ) -> None:
    """Every prefix empty, else one StateError naming each that is not (and, for a basket,
    the ``--asset`` that rebuilds only the others)."""
    problems: list[str] = []
    empty: list[str] = []
    for store, (asset, _) in zip(stores, pairs, strict=True):
        try:
            await require_empty(store)
            empty.append(asset)
        except StateError as exc:
            problems.append(str(exc))
    if not problems:
        return
    if len(pairs) > 1:
        problems.append("nothing written for any pair" + (
            "; to rebuild only the pairs without books, give "
            + " or ".join(f"--asset {a}" for a in empty) if empty else ""))
    raise StateError("; ".join(problems))


async def _rebuild(pairs: list[tuple[str, Settings]], creds: Credentials, *, fresh: bool,
                   dry_run: bool) -> int:
    first = pairs[0][1]
    stores = [RedisStore(s.redis.url, s.key_prefix, socket_timeout_s=5.0,
                         recent_orders_max=s.redis.recent_orders_max) for _, s in pairs]
    rest = MexcRest(first.exchange, creds)
    try:
        for store in stores:
            await store.connect()
        if not dry_run:
            await _require_empty(stores, pairs)  # before reading the exchange: refuse early
        await rest.start()
        done = [await _books(rest, s, fresh) for _, s in pairs]  # all computed, then written
        for store, (_, s), (books, lines) in zip(stores, pairs, done, strict=True):
            if not dry_run:
                await install_books(store, books)
            print("\n".join(lines))
            print("dry run: nothing written" if dry_run else f"written to {s.key_prefix!r}")
        return 0
    except StoreUnavailable as exc:
        raise RebalancerError(f"Redis at {first.redis.url} is unavailable: {exc}") from None
    finally:
        await rest.close()
        for store in stores:
            await store.close()


async def _books(rest: MexcRest, settings: Settings, fresh: bool) -> tuple[Books, list[str]]:
    """One pair's books to install and the lines that say what they are."""
    if fresh:
        books, basis = await fresh_books(rest, settings)
        return books, [f"fresh start of {settings.symbol} under {settings.key_prefix!r}: "
                       f"schema 1, epoch {books.epoch}, books version 0; exchange history "
                       "ignored", basis]
    rebuilt = await rebuild_from_exchange(rest, settings, _now_ms())
    return rebuilt.install, report(rebuilt, settings)


def report(r: Rebuild, settings: Settings) -> list[str]:
    """What was rebuilt and what could not be known, in lines."""
    b, h, base, quote = r.books, r.history, r.rules.base_asset, r.rules.quote_asset
    c = r.counters
    start = ("config strategy.initial_cost_basis " + str(r.initial_cost) if r.initial_cost
             is not None else "unknown")
    last = "none" if c.last_trade_ms is None else utc_text(c.last_trade_ms)
    lines = [
        f"rebuilt {settings.symbol} under {settings.key_prefix!r} from the exchange "
        f"({h.requests} requests; orders since {utc_text(h.orders_from_ms)}, trades since "
        f"{utc_text(h.trades_from_ms)})",
        f"orders      {len(b.orders)} of ours stored ({len(b.open_orders)} open, "
        f"{len(b.closed_orders)} closed" + (f", {b.closed_dropped} older closed ones beyond "
                                            f"redis.recent_orders_max not stored"
                                            if b.closed_dropped else "") + ")",
        f"fills       {len(b.fills)} of ours booked (trade ids from myTrades)",
        f"cost basis  avg {b.cost.avg_cost} {quote}, quantity covered {b.cost.qty} {base}; "
        f"realized PnL "
        f"{b.cost.realized_pnl} {quote}",
        f"            counted: our own fills only, in time order, on top of the {b.base_before}"
        f" {base} held before them (cost: {start}); trades not of ours are not booked "
        f"({b.foreign_trades} found)",
        f"core floor  {b.core_floor} {base} (an estimate)",
        f"counters    trades today {c.trades_today} ({c.day or '-'}), last trade {last}, "
        f"trades total {c.trades_total} (a lower bound: only the trades MEXC still keeps)",
    ]
    lines += [f"  open {o.client_order_id} {o.side.value} {o.qty} @ {o.price} {o.status.value}"
              for o in b.open_orders]
    lines.append("could not know:")
    lines += [f"  - {u}" for u in r.unknown]
    return lines

