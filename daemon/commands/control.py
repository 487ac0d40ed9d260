"""Operator commands that flip state in Redis while the daemon runs: ``halt``, ``resume``
and ``core set`` (``status`` reads it: daemon/commands/status.py)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_config_arg, with_store
from daemon.config import Settings
from daemon.domain.fields import ARGUMENTS
from daemon.errors import InputError, StateError


def register(sub: Any) -> None:
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
