"""``rebalancer rebalance-now``: ask the running daemon to evaluate at once (through Redis) and
print the plan it made, or say clearly that no daemon picked the request up in time."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from typing import Any

import orjson

from daemon.adapters import redis_requests as rq
from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import (
    add_config_arg,
    operator_text,
    require_state,
    timeout_arg,
    with_store,
)
from daemon.config import Settings
from daemon.errors import RebalancerError

POLL_S = 0.2
EXIT_OK, EXIT_NO_PLAN = 0, 1


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "rebalance-now", help="ask the running daemon to evaluate now and print its plan",
        description="Ask the running daemon (the one trading under this config's Redis key "
        "prefix) to evaluate at once. The evaluation is recorded with trigger 'manual' and "
        "the reason. Prints the plan it caused; exit 1 when no daemon took the request within "
        "--timeout, or when it could not decide now (it says why).")
    add_config_arg(p)
    p.add_argument("--reason", default=None, help="recorded with the plan (one line, at most "
                   "200 characters)")
    p.add_argument("--timeout", default="30", metavar="SECONDS",
                   help="how long to wait for the daemon's answer (default 30)")
    p.add_argument("--json", action="store_true", help="print the plan record as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    timeout_s = timeout_arg(args.timeout)
    reason = "" if args.reason is None else operator_text(args.reason, "--reason",
                                                          limit=rq.MAX_REASON)

    async def body(store: RedisStore, settings: Settings) -> int:
        await require_state(store, settings)  # else it would wait out --timeout for nothing
        return await _ask(store, reason, timeout_s, as_json=args.json)

    return with_store(args, body)


async def _ask(store: RedisStore, reason: str, timeout_s: float, *, as_json: bool) -> int:
    request = rq.ManualRequest(secrets.token_hex(8), reason, time.time_ns() // 1_000_000)
    body = await rq.push_request(store, request)
    deadline = time.monotonic() + timeout_s
    reply: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        reply = await rq.read_reply(store, request.id)
        if reply is not None and ("plan" in reply or "note" in reply):
            await rq.read_reply(store, request.id, remove=True)
            return _show(reply, as_json)
        await asyncio.sleep(POLL_S)
    if await rq.withdraw(store, body):
        raise RebalancerError(
            f"no daemon took the request within {timeout_s:g} s (none is running with this "
            f"config's Redis and key prefix {store.prefix!r}, or it is not trading: see "
            "`rebalancer status`); the request was withdrawn")
    await rq.read_reply(store, request.id, remove=True)
    raise RebalancerError(f"the daemon took the request but made no plan within "
                          f"{timeout_s:g} s (an evaluation may still be running: see "
                          "`rebalancer status`)")


def _show(reply: dict[str, Any], as_json: bool) -> int:
    plan = reply.get("plan")
    if plan is None:
        print(f"the daemon took the request; {reply.get('note')}")
        return EXIT_NO_PLAN
    if as_json:
        print(orjson.dumps(plan, option=orjson.OPT_INDENT_2).decode())
    else:
        legs = plan.get("legs")  # a portfolio's plan: one line per asset
        for one in [leg.get("plan") or {} for leg in legs] if isinstance(legs, list) else [plan]:
            dry = " (dry_run: not sent)" if plan.get("dry_run") and one.get("side") else ""
            print(f"{one.get('action')} {one.get('quantity')} [{one.get('reason_code')}] "
                  f"{one.get('reason')}{dry}")
        print(f"cycle {plan.get('cycle_id')} trigger {plan.get('trigger')}")
    return EXIT_OK
