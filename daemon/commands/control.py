"""Operator commands that flip state in Redis while the daemon runs: ``halt``, ``resume``
and ``core set`` (``status`` reads it: daemon/commands/status.py).

Each refuses (exit 2) a prefix no daemon has ever written under (no ``schema`` key): a wrong
config or key prefix would otherwise report success while nothing is affected. ``halt --force``
sets the flag there anyway (a daemon started later holds from its first decision), and
``resume`` clears such a flag."""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from typing import Any

from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import (
    add_config_arg,
    has_state,
    no_state,
    operator_text,
    redis_shown,
    require_state,
    subject,
    with_store,
)
from daemon.commands.status import read_heartbeat
from daemon.config import Settings
from daemon.domain.fields import ARGUMENTS
from daemon.domain.money import fmt
from daemon.errors import InputError, StateError

MAX_CORE_QTY = Decimal("1e15")  # more than any holding of any token: a typo
MAX_DECIMALS = 18  # an exchange precision never has more


def register(sub: Any) -> None:
    h = sub.add_parser("halt", help="stop trading at the next decision (HOLD 'halted')")
    add_config_arg(h)
    h.add_argument("--reason", default="operator halt",
                   help="recorded with the flag (one line, at most 200 characters)")
    h.add_argument("--force", action="store_true",
                   help="set the flag even where no daemon has run yet under this config's "
                   "key prefix (a daemon started later then holds from its first decision)")
    h.set_defaults(handler=handle_halt)

    r = sub.add_parser("resume", help="clear the halt flag")
    add_config_arg(r)
    r.set_defaults(handler=handle_resume)

    c = sub.add_parser("core", help="core floor commands")
    csub = c.add_subparsers(dest="core_command", metavar="SUBCOMMAND", required=True)
    cs = csub.add_parser("set", help="set the core floor (base quantity never sold)")
    cs.add_argument("qty", help="base quantity, e.g. 5600")
    cs.add_argument("--asset", metavar="ASSET",
                    help="the portfolio's asset whose floor is set (needed when "
                    "portfolio.targets lists several)")
    add_config_arg(cs)
    cs.set_defaults(handler=handle_core_set)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _beat(store: RedisStore) -> dict[str, Any] | None:
    """The daemon's heartbeat for a message or a check (None: absent, or unreadable: that is
    `status`'s to report, and it must not stop a halt or a core set)."""
    try:
        return await read_heartbeat(store)
    except StateError:
        return None


async def _daemon_now(store: RedisStore) -> bool:
    """Whether a daemon is running now (its heartbeat says so)."""
    beat = await _beat(store)
    return beat is not None and beat.get("state") != "stopped"


def handle_halt(args: argparse.Namespace) -> int:
    reason = operator_text(args.reason, "--reason")

    async def body(store: RedisStore, settings: Settings) -> int:
        if not await has_state(store):
            if not args.force:
                raise no_state(store, settings, "; `halt --force` sets the flag anyway (a "
                               "daemon started later holds from its first decision)")
            await store.set_halt(reason, _now_ms())
            print(f"halted {subject(settings)}: {reason} (no daemon has run under "
                  f"{store.prefix!r} in Redis at {redis_shown(settings)} yet: one started "
                  "with this config holds from its first decision)")
            return 0
        await store.set_halt(reason, _now_ms())
        when = ("the daemon holds at its next decision" if await _daemon_now(store)
                else "no daemon is running now: it holds from its first decision")
        print(f"halted {subject(settings)}: {reason} ({when}; open orders: "
              f"{settings.execution.on_halt})")
        return 0
    return with_store(args, body)


def handle_resume(args: argparse.Namespace) -> int:
    async def body(store: RedisStore, settings: Settings) -> int:
        if not await has_state(store) and await store.get_halt() is None:
            raise no_state(store, settings)  # nothing to resume: a wrong config?
        was = await store.clear_halt()
        name = subject(settings)
        print(f"resumed {name}" if was else f"{name} was not halted")
        return 0
    return with_store(args, body)


def core_qty(text: str) -> Decimal:
    """QTY of ``core set``: a plain quantity >= 0, at most MAX_CORE_QTY and MAX_DECIMALS."""
    try:
        qty = ARGUMENTS.decimal(text, "QTY", minimum=Decimal(0), maximum=MAX_CORE_QTY)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if _decimals(qty) > MAX_DECIMALS:
        raise InputError(f"QTY: at most {MAX_DECIMALS} decimal places, got {text}")
    return Decimal(fmt(qty))  # 1e3 -> 1000: stored and shown plainly


def _decimals(qty: Decimal) -> int:
    """Decimal places of ``qty`` written plainly, trailing zeros dropped (exact)."""
    return len(fmt(qty).partition(".")[2])


def _check_against_beat(qty: Decimal, beat: dict[str, Any] | None) -> str:
    """InputError for more decimals than the symbol's quantity precision (when the daemon's
    heartbeat tells it); a note when the floor is above the base held."""
    if beat is None:
        return ""
    precision = (beat.get("precision") or {}).get("qty")
    base = str((beat.get("assets") or {}).get("base") or "base")
    if isinstance(precision, int) and _decimals(qty) > precision:
        raise InputError(f"QTY: {fmt(qty)} has more decimal places than {base} quantities "
                         f"({precision}, the exchange's precision)")
    held = ((beat.get("books") or {}).get("balances") or {}).get(base)
    if isinstance(held, dict):
        try:
            total = Decimal(str(held.get("free", "0"))) + Decimal(str(held.get("locked", "0")))
        except ArithmeticError:  # the heartbeat is status's to judge; no note then
            return ""
        if total.is_finite() and qty > total:
            return (f"; above the {fmt(total)} {base} held: the daemon sells no {base} until "
                    "it holds more than that")
    return ""


def handle_core_set(args: argparse.Namespace) -> int:
    qty = core_qty(args.qty)

    async def body(store: RedisStore, settings: Settings) -> int:
        symbol = _core_symbol(settings, args.asset)
        await require_state(store, settings)
        note = _check_against_beat(qty, _pair_beat(await _beat(store), symbol))
        await store.check_schema()  # books written before the fence get their epoch first
        await store.set_core_floor(qty, _now_ms(), source="manual")
        print(f"core floor of {symbol} set to {fmt(qty)} (core credit 0){note}")
        return 0
    return with_store(args, body)


def _core_symbol(settings: Settings, asset: str | None) -> str:
    """The pair whose floor ``core set`` sets; InputError when ``--asset`` is missing for a
    portfolio of several assets, or given without a portfolio."""
    p = settings.portfolio
    if p is None:
        if asset is not None:
            raise InputError("--asset: only for a portfolio (portfolio.targets); this config "
                             f"trades the single pair {settings.symbol}")
        return settings.symbol
    pairs = p.pairs()
    if asset is None:
        if len(pairs) > 1:
            raise InputError(f"--asset: which asset's floor? portfolio.targets lists "
                             f"{', '.join(pairs)}")
        return next(iter(pairs.values()))
    if asset.upper() not in pairs:
        raise InputError(f"--asset: {asset} is not in portfolio.targets ({', '.join(pairs)})")
    return pairs[asset.upper()]


def _pair_beat(beat: dict[str, Any] | None, symbol: str) -> dict[str, Any] | None:
    """The heartbeat's view of ``symbol``: a portfolio's asset entry, else the beat itself."""
    assets = ((beat or {}).get("portfolio") or {}).get("assets")
    if not isinstance(assets, dict):
        return beat
    for asset, entry in assets.items():
        if isinstance(entry, dict) and entry.get("symbol") == symbol:
            return {"precision": entry.get("precision"), "assets": {"base": asset},
                    "books": entry.get("books")}
    return None
