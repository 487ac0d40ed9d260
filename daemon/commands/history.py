"""``rebalancer history``: the decisions (``P plan_history``) and the orders with their fills
(``P orders``, ``P fills``) from Redis, newest first. The plan history keeps the last
``redis.plan_history_max`` plans and the orders hash the open ones plus the last
``redis.recent_orders_max`` finished ones: the report says how far back each goes, and when
the range asked for starts before that. Every booked fill is kept (``P fills``): fills of
orders no longer held are listed on their own."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import orjson

from daemon.adapters.redis_codec import fill_to_dict, order_to_dict
from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_asset_arg, add_config_arg, with_store
from daemon.commands.status import EXIT_NO_STATE, has_state
from daemon.config import Settings
from daemon.errors import InputError

DEFAULT_LIMIT = 20


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="print past plans and orders with their fills",
                       description="Print the daemon's past decisions and orders (with fills) "
                                   "from Redis, newest first.")
    add_config_arg(p)
    add_asset_arg(p)
    p.add_argument("--since", metavar="DATE",
                   help="only from this UTC date or time on (2026-12-01 or 2026-12-01T08:00)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"at most N plans and N orders (default {DEFAULT_LIMIT})")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=handle_history)


def parse_since(text: str | None) -> int | None:
    """``--since`` as epoch ms (UTC); InputError naming the flag."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--since {text!r}: expected a UTC date or time such as 2026-12-01 "
                         "or 2026-12-01T08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def handle_history(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")

    async def body(store: RedisStore, settings: Settings) -> int:
        if not await has_state(store, settings):
            return EXIT_NO_STATE
        report = await collect_history(store, settings, since, args.limit)
        if args.json:
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        else:
            print(format_history(report))
        return 0
    return with_store(args, body)


async def collect_history(store: RedisStore, settings: Settings, since: int | None,
                          limit: int) -> dict[str, Any]:
    start = since or 0
    plans = await store.plan_history(settings.redis.plan_history_max)
    state = await store.load_state(adopt=False)
    every = {**await store.archived_orders(), **state.orders}  # the recent version wins
    orders = sorted(every.values(), key=lambda o: (o.created_ms, o.client_order_id),
                    reverse=True)
    held = {o.client_order_id for o in orders}
    orphans = [f for f in await store.get_fills()
               if f.client_order_id not in held and f.time_ms >= start]
    return {
        "since_ms": since,
        "plans": [p for p in plans if int(p.get("time_ms", 0)) >= start][:limit],
        "orders": [order_to_dict(o) for o in orders if o.created_ms >= start][:limit],
        "fills_of_orders_not_held": [fill_to_dict(f) for f in reversed(orphans)][:limit],
        "coverage": {
            "plans": _coverage(len(plans), settings.redis.plan_history_max,
                               [int(p.get("time_ms", 0)) for p in plans], since,
                               "redis.plan_history_max"),
            "orders": _coverage(len(orders), None, [o.created_ms for o in orders], since,
                                "every order: the recent ones and the archive"),
        },
    }


def _coverage(count: int, cap: int | None, times: list[int], since: int | None,
              setting: str) -> dict[str, Any]:
    """How far back a capped structure (``cap`` None: not capped) goes, and whether the range
    asked for is older."""
    oldest = min(times) if times else None
    full = cap is not None and count >= cap
    note = None
    if full and since is not None and oldest is not None and since < oldest:
        note = (f"asked from {_utc(since)}, but only the last {cap} are kept ({setting}): "
                f"nothing before {_utc(oldest)} is left")
    return {"held": len(times), "cap": cap, "full": full, "oldest_ms": oldest, "note": note}


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _decided(p: dict[str, Any]) -> str:
    """A plan record's decision: a portfolio's, every leg on one line."""
    legs = p.get("legs")
    if isinstance(legs, list):
        return "; ".join(f"{leg.get('asset')} {(leg.get('plan') or {}).get('action')} "
                         f"{(leg.get('plan') or {}).get('quantity')} "
                         f"[{(leg.get('plan') or {}).get('reason_code')}]" for leg in legs)
    return (f"{p.get('action')} {p.get('quantity')} [{p.get('reason_code')}] "
            f"{p.get('reason')}")


def format_history(r: dict[str, Any]) -> str:
    lines = []
    for name in ("plans", "orders"):
        c = r["coverage"][name]
        back = "none held" if c["oldest_ms"] is None else f"back to {_utc(c['oldest_ms'])} UTC"
        keeps = "keeps all" if c["cap"] is None else f"keeps {c['cap']}"
        lines.append(f"{name}: {c['held']} held ({back}; {keeps}"
                     f"{', full' if c['full'] else ''})")
        if c["note"]:
            lines.append(f"  note: {c['note']}")
    lines.append(f"plans ({len(r['plans'])} shown, newest first)")
    lines += [f"  {_utc(p['time_ms'])} {p.get('cycle_id')} {p.get('trigger')} {_decided(p)}"
              for p in r["plans"]]
    lines.append(f"orders ({len(r['orders'])} shown, newest first)")
    for o in r["orders"]:
        lines.append(f"  {_utc(o['created_ms'])} {o['client_order_id']} {o['side']} {o['qty']} "
                     f"@ {o['price'] or 'market'} {o['status']} ({len(o['fills'])} fill(s))")
        lines += [f"    fill {f['trade_id']} {_utc(f['time_ms'])} {f['qty']} @ {f['price']} "
                  f"fee {f['fee']} {f['fee_asset']}" for f in o["fills"]]
    if r["fills_of_orders_not_held"]:
        lines.append(f"fills of orders no longer held ({len(r['fills_of_orders_not_held'])})")
        lines += [f"  {_utc(f['time_ms'])} {f['trade_id']} {f['side']} {f['qty']} @ "
                  f"{f['price']} ({f['client_order_id']})" for f in r["fills_of_orders_not_held"]]
    return "\n".join(lines)
