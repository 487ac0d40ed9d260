"""``rebalancer state rebuild -c FILE [--fresh] [--dry-run]``: when Redis lost the books.

Without ``--fresh`` the books are rebuilt from the exchange (daemon.runtime.rebuild): every
order of ours allOrders still knows (7 days) or a trade of the last month names, their fills,
the cost basis, an estimated core floor and the trade counters; the command prints what it
rebuilt and what it could not know. ``--fresh`` starts over deliberately: only the schema, a
new epoch, books version 0 and the config's initial cost basis (if set) are written.

Both write into the key prefix ATOMICALLY and only when it holds no books (keys ``lease``,
``heartbeat``, ``halted`` may exist and are left alone). ``--dry-run`` prints without writing
(also beside existing books: e.g. to compare them with the exchange).

Exit codes: 0 written (or printed with --dry-run); 2 bad config or no API keys; 1 the prefix
already holds books (they are named; nothing is written), Redis or the exchange failed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_install import install_books, require_empty
from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_config_arg
from daemon.config import Credentials, Settings, load_config, load_credentials
from daemon.errors import ConfigError, RebalancerError, StoreUnavailable
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
    return asyncio.run(_rebuild(settings, creds, fresh=args.fresh, dry_run=args.dry_run))


async def _rebuild(settings: Settings, creds: Credentials, *, fresh: bool,
                   dry_run: bool) -> int:
    store = RedisStore(settings.redis.url, settings.key_prefix, socket_timeout_s=5.0,
                       recent_orders_max=settings.redis.recent_orders_max)
    rest = MexcRest(settings.exchange, creds)
    try:
        await store.connect()
        if not dry_run:
            await require_empty(store)  # before reading the exchange: refuse early
        await rest.start()
        if fresh:
            books, basis = await fresh_books(rest, settings)
            lines = [f"fresh start of {settings.symbol} under {settings.key_prefix!r}: schema "
                     f"1, epoch {books.epoch}, books version 0; exchange history ignored",
                     basis]
        else:
            rebuilt = await rebuild_from_exchange(rest, settings, _now_ms())
            books = rebuilt.install
            lines = report(rebuilt, settings)
        if not dry_run:
            await install_books(store, books)
        print("\n".join(lines))
        print("dry run: nothing written" if dry_run else f"written to {settings.key_prefix!r}")
        return 0
    except StoreUnavailable as exc:
        raise RebalancerError(f"Redis at {settings.redis.url} is unavailable: {exc}") from None
    finally:
        await rest.close()
        await store.close()


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

