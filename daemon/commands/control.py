"""Operator commands that read or flip state in Redis while the daemon runs:
``status``, ``halt``, ``resume`` and ``core set``."""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson

from daemon.adapters.redis_codec import order_to_dict
from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_config_arg, with_store
from daemon.config import Settings
from daemon.domain.fields import ARGUMENTS
from daemon.errors import InputError, StateError


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="print balances, PnL, MAs, last plan, orders from Redis",
                       description="Read the daemon's state from Redis and print it.")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=handle_status)

    h = sub.add_parser("halt", help="stop trading at the next decision (HOLD 'halted')")
    add_config_arg(h)
    h.add_argument("--reason", default="operator halt", help="recorded with the flag")
    h.set_defaults(handler=handle_halt)

    r = sub.add_parser("resume", help="clear the halt flag")
    add_config_arg(r)
    r.set_defaults(handler=handle_resume)

    c = sub.add_parser("core", help="core floor commands")
    csub = c.add_subparsers(dest="core_command", metavar="SUBCOMMAND", required=True)
    cs = csub.add_parser("set", help="set the core floor (base quantity never sold)")
    cs.add_argument("qty", help="base quantity, e.g. 5600")
    add_config_arg(cs)
    cs.set_defaults(handler=handle_core_set)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000





async def _require_state(store: RedisStore) -> None:
    if await store.client.get(store.key("schema")) is None:
        raise StateError(f"no state under {store.prefix!r} (has the daemon run with this "
                         "redis.url and key prefix?)")


def handle_halt(args: argparse.Namespace) -> int:
    async def body(store: RedisStore, settings: Settings) -> int:
        await store.set_halt(args.reason, _now_ms())
        print(f"halted {settings.symbol}: {args.reason} (the daemon holds at its next decision;"
              f" open orders: {settings.execution.on_halt})")
        return 0
    return with_store(args, body)


def handle_resume(args: argparse.Namespace) -> int:
    async def body(store: RedisStore, settings: Settings) -> int:
        was = await store.clear_halt()
        print(f"resumed {settings.symbol}" if was else f"{settings.symbol} was not halted")
        return 0
    return with_store(args, body)


def handle_core_set(args: argparse.Namespace) -> int:
    try:
        qty = ARGUMENTS.decimal(args.qty, "QTY")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if qty < 0:
        raise InputError(f"QTY: must be >= 0, got {args.qty}")

    async def body(store: RedisStore, settings: Settings) -> int:
        await _require_state(store)
        await store.check_schema()  # books written before the fence get their epoch first
        await store.set_core_floor(qty, _now_ms(), source="manual")
        print(f"core floor of {settings.symbol} set to {qty} (core credit 0)")
        return 0
    return with_store(args, body)


def handle_status(args: argparse.Namespace) -> int:
    async def body(store: RedisStore, settings: Settings) -> int:
        await _require_state(store)
        report = await collect_status(store, _now_ms())
        if args.json:
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        else:
            print(format_status(report, settings))
        return 0
    return with_store(args, body)


async def collect_status(store: RedisStore, now_ms: int) -> dict[str, Any]:
    state = await store.load_state()
    raw = await store.client.get(store.key("heartbeat"))
    beat: dict[str, Any] | None = orjson.loads(raw) if raw else None
    fills = await store.get_fills()
    books = (beat or {}).get("books") or {}
    return {
        "heartbeat_age_s": None if beat is None else round((now_ms - beat["time_ms"]) / 1000, 1),
        "daemon": None if beat is None else {k: beat.get(k) for k in (
            "state", "mode", "owner", "price", "ma_short", "ma_long", "trend", "candles",
            "in_flight", "health")},
        "balances": state.balances or books.get("balances"),
        "cost_basis": state.cost_basis and {k: state.cost_basis.get(k) for k in (
            "avg_cost", "qty", "realized_pnl")},
        "unrealized_pnl": books.get("unrealized_pnl"),
        "core_floor": None if state.core_floor is None else str(state.core_floor),
        "core_credit": str(state.core_credit),
        "counters": state.counters.to_dict(),
        "halted": None if state.halt is None else {"reason": state.halt.reason,
                                                  "time_ms": state.halt.time_ms},
        "last_plan": state.last_plan and {k: state.last_plan.get(k) for k in (
            "cycle_id", "trigger", "time_ms", "action", "quantity", "price", "reason_code",
            "reason", "dry_run")},
        "open_orders": [order_to_dict(o) for o in state.open_orders],
        "last_trades": [{"trade_id": f.trade_id, "side": f.side.value, "qty": str(f.qty),
                         "price": str(f.price), "fee": f"{f.fee} {f.fee_asset}",
                         "client_order_id": f.client_order_id, "time_ms": f.time_ms}
                        for f in fills[-10:]],
    }


def format_status(r: dict[str, Any], settings: Settings) -> str:
    d = r["daemon"] or {}
    lp = r["last_plan"] or {}
    cb = r["cost_basis"] or {}
    lines = [
        f"{settings.symbol} ({settings.key_prefix})",
        f"daemon      {d.get('state', 'no heartbeat')} mode={d.get('mode')} "
        f"heartbeat {r['heartbeat_age_s']}s ago" if r["heartbeat_age_s"] is not None
        else "daemon      no heartbeat (not running, or Redis expired it)",
        f"health      {d.get('health') or 'ok'}",
        f"halted      {r['halted']['reason']}" if r["halted"] else "halted      no",
        f"market      price {d.get('price')} MA short {d.get('ma_short')} long "
        f"{d.get('ma_long')} trend {d.get('trend')} ({d.get('candles')} candles)",
        f"balances    {_balances(r['balances'])}",
        f"cost basis  avg {cb.get('avg_cost')} over {cb.get('qty')}; realized "
        f"{cb.get('realized_pnl')} unrealized {r['unrealized_pnl']}",
        f"core floor  {r['core_floor']} (credit {r['core_credit']}: sold, not bought back)",
        f"trades      today {r['counters']['trades_today']} ({r['counters']['day']}), "
        f"total {r['counters']['trades_total']}",
        f"last plan   {lp.get('action')} {lp.get('quantity')} [{lp.get('reason_code')}] "
        f"{lp.get('reason')}",
        f"open orders {len(r['open_orders'])}",
    ]
    lines += [f"  {o['client_order_id']} {o['side']} {o['qty']} @ {o['price']} {o['status']}"
              for o in r["open_orders"]]
    lines.append(f"last trades {len(r['last_trades'])}")
    lines += [f"  {t['trade_id']} {t['side']} {t['qty']} @ {t['price']} fee {t['fee']} "
              f"({t['client_order_id']})" for t in r["last_trades"]]
    return "\n".join(lines)


def _balances(b: dict[str, Any] | None) -> str:
    if not b:
        return "unknown"
    return ", ".join(f"{a} {v.get('free')} free + {v.get('locked')} locked"
                     for a, v in sorted(b.items()))
