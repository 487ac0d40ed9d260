"""``rebalancer status``: the daemon's state as it decides on it, and an exit code scripts can
use: 0 healthy (a fresh heartbeat, trading, not halted, no health problem), 1 not healthy (no or
a stale heartbeat, stopped, standby or recovering, halted, a health problem), 2 no state under
the key prefix.

The balances, price and averages are the heartbeat's (``P heartbeat``, written by the lease
holder every ``health.heartbeat_interval_s`` from the balances it decides on). ``P balances`` is
written only when fills are booked, with the balances known at that moment (the account push of
the trade usually comes after its fill): it is shown only when there is no heartbeat, and said
to be as of the last booked fill."""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from daemon.adapters.redis_codec import order_to_dict
from daemon.adapters.redis_store import RedisStore
from daemon.commands import common
from daemon.commands.common import add_config_arg, with_store
from daemon.config import Settings
from daemon.domain.money import shown
from daemon.errors import StateError

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_NO_STATE = 0, 1, 2
STALE_BEATS = 3  # a heartbeat older than this many intervals is stale
DEFAULT_PRICE_DECIMALS = 8  # a heartbeat written before it carried the symbol's precision


def register(sub: Any) -> None:
    p = sub.add_parser(
        "status", help="print balances, value, drift, PnL, last plan, orders from Redis",
        description="Read the daemon's state from Redis and print it. Exit code: 0 healthy, "
                    "1 no or stale heartbeat, stopped, not trading, halted or unhealthy, "
                    "2 no state under the key prefix.")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=handle_status)


def handle_status(args: argparse.Namespace) -> int:
    async def body(store: RedisStore, settings: Settings) -> int:
        if not await has_state(store, settings):
            return EXIT_NO_STATE
        now = time.time_ns() // 1_000_000
        if settings.portfolio is not None and len(settings.portfolio.targets) > 1:
            from daemon.commands import status_portfolio as pf  # it imports this module

            report = await pf.collect_portfolio_status(settings, now)
            text = pf.format_portfolio_status(report, settings)
        else:
            report = await collect_status(store, settings, now)
            text = format_status(report, settings)
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if args.json
              else text)
        return int(report["exit_code"])
    return with_store(args, body)


async def has_state(store: RedisStore, settings: Settings) -> bool:
    """False, said on stderr, when nothing was ever written under the key prefix."""
    if await common.has_state(store):
        return True
    print(f"error: {common.no_state(store, settings)}", file=sys.stderr)
    return False


async def read_heartbeat(store: RedisStore) -> dict[str, Any] | None:
    """The lease holder's last checkpoint (None: expired or never written)."""
    return await store.get_heartbeat()


async def collect_status(store: RedisStore, settings: Settings, now_ms: int) -> dict[str, Any]:
    state = await store.load_state(adopt=False)
    beat = await read_heartbeat(store)
    fills = await store.latest_fills(10)
    books = (beat or {}).get("books") or {}
    age = None if beat is None else round((now_ms - beat["time_ms"]) / 1000, 1)
    from_beat = bool(books.get("balances"))
    balances = books.get("balances") if from_beat else state.balances
    halted = None if state.halt is None else {"reason": state.halt.reason,
                                              "time_ms": state.halt.time_ms}
    verdict, problems = _verdict(beat, age, halted, settings)
    return {
        "state": verdict,
        "exit_code": EXIT_HEALTHY if not problems else EXIT_UNHEALTHY,
        "problems": problems,
        "heartbeat_age_s": age,
        "daemon": None if beat is None else {k: beat.get(k) for k in (
            "state", "phase", "mode", "owner", "price", "ma_short", "ma_long", "trend",
            "candles", "in_flight", "health", "precision")},
        "balances": balances,
        "balances_source": ("heartbeat" if from_beat else
                            "balances key (as of the last booked fill)" if balances else None),
        "portfolio": portfolio(balances, beat or {}, settings),
        "cost_basis": state.cost_basis and {k: state.cost_basis.get(k) for k in (
            "avg_cost", "qty", "realized_pnl")},
        "unrealized_pnl": books.get("unrealized_pnl"),
        "core_floor": None if state.core_floor is None else str(state.core_floor),
        "core_credit": str(state.core_credit),
        "counters": state.counters.to_dict(),
        "halted": halted,
        "last_plan": state.last_plan and {k: state.last_plan.get(k) for k in (
            "cycle_id", "trigger", "time_ms", "action", "quantity", "price", "reason_code",
            "reason", "dry_run")},
        "open_orders": [order_to_dict(o) for o in state.open_orders],
        "last_trades": [{"trade_id": f.trade_id, "side": f.side.value, "qty": str(f.qty),
                         "price": str(f.price), "fee": f"{f.fee} {f.fee_asset}",
                         "client_order_id": f.client_order_id, "time_ms": f.time_ms}
                        for f in fills[-10:]],
    }


def _verdict(beat: dict[str, Any] | None, age: float | None, halted: dict[str, Any] | None,
             settings: Settings) -> tuple[str, list[str]]:
    """(state shown, why not healthy): halted wins over the lease phase."""
    problems: list[str] = []
    limit = STALE_BEATS * settings.health.heartbeat_interval_s
    if beat is None or age is None:
        problems.append("no heartbeat (the daemon is not running, or Redis expired it)")
        shown_state = "no heartbeat"
    else:
        shown_state = str(beat.get("phase") or beat.get("state"))
        if beat.get("state") == "stopped":
            shown_state = "stopped"
            problems.append("the daemon stopped (its last checkpoint)")
        elif age > limit:
            problems.append(f"stale heartbeat: {age}s old (more than {limit:g}s)")
            shown_state = "stale"
        elif shown_state != "trading":
            problems.append(f"not trading: lease phase {shown_state}")
        if beat.get("health"):
            problems.append(f"unhealthy: {beat['health']}")
    if halted is not None:
        problems.append(f"halted: {halted['reason']}")
        shown_state = "halted"
    return shown_state, problems


def portfolio(balances: dict[str, Any] | None, beat: dict[str, Any],
              settings: Settings) -> dict[str, str | None]:
    """Value in quote, base weight, target weight (the daemon's) and drift (weight - target)
    at the heartbeat's price; None where the balances, the assets or the price are unknown."""
    price_text, target_text = beat.get("price"), beat.get("target_ratio")
    assets: dict[str, str] | None = beat.get("assets")
    base = quote = None
    if balances and assets:
        zero = {"free": "0", "locked": "0"}
        base = _total(balances.get(str(assets.get("base")), zero))
        quote = _total(balances.get(str(assets.get("quote")), zero))
    given = _dec(target_text)
    target = settings.strategy.ratio if given is None else given
    out: dict[str, str | None] = {"price": price_text, "value": None, "base_weight": None,
                                  "target_weight": str(target), "drift": None}
    price = _dec(price_text)
    if not balances or price is None or base is None or quote is None:
        return out
    base_value = base * price
    value = base_value + quote
    out["value"] = str(value)
    if value > 0:
        weight = base_value / value
        out["base_weight"], out["drift"] = str(weight), str(weight - target)
    return out


def _total(b: dict[str, Any]) -> Decimal | None:
    free, locked = _dec(b.get("free")), _dec(b.get("locked"))
    return None if free is None or locked is None else free + locked


def _dec(text: object) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise StateError(f"heartbeat: not a number: {text!r}") from None
    return value if value.is_finite() else None


def header_lines(r: dict[str, Any], title: str) -> list[str]:
    """The first lines of ``status``, for one pair and a basket alike: what it is, its state
    and problems, the daemon's heartbeat and health, the halt."""
    d, age = r["daemon"] or {}, r["heartbeat_age_s"]
    return [
        title,
        f"state       {r['state']} (exit {r['exit_code']})"
        + "".join(f"\n  {p}" for p in r["problems"]),
        f"daemon      {d.get('state')} phase={d.get('phase')} mode={d.get('mode')} "
        f"heartbeat {age}s ago" if age is not None
        else "daemon      no heartbeat (not running, or Redis expired it)",
        f"health      {d.get('health') or 'ok'}",
        f"halted      {r['halted']['reason']}" if r["halted"] else "halted      no",
    ]


def format_status(r: dict[str, Any], settings: Settings) -> str:
    d = r["daemon"] or {}
    lp = r["last_plan"] or {}
    cb = r["cost_basis"] or {}
    pf = r["portfolio"]
    px = int((d.get("precision") or {}).get("price", DEFAULT_PRICE_DECIMALS))
    lines = [
        *header_lines(r, f"{common.subject(settings)} ({settings.key_prefix})"),
        f"market      price {_p(d.get('price'), px)} MA short {_p(d.get('ma_short'), px)} "
        f"long {_p(d.get('ma_long'), px)} trend {d.get('trend')} ({d.get('candles')} candles)",
        f"balances    {_balances(r['balances'])}"
        + (f" [{r['balances_source']}]" if r["balances_source"] else ""),
        f"portfolio   value {_p(pf['value'], 2)}, base weight {_pct(pf['base_weight'])} "
        f"(target {_pct(pf['target_weight'])}, drift {_pts(pf['drift'])})",
        f"cost basis  avg {_p(cb.get('avg_cost'), px)} over {cb.get('qty')}; realized "
        f"{_p(cb.get('realized_pnl'), px)} unrealized {_p(r['unrealized_pnl'], px)}",
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


def _p(text: object, decimals: int) -> str:
    value = _dec(text) if text is not None else None
    return shown(value, decimals)


def _pct(text: str | None) -> str:
    value = _dec(text)
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _pts(text: str | None) -> str:
    value = _dec(text)
    return "n/a" if value is None else f"{value * 100:+.2f} pts"


def _balances(b: dict[str, Any] | None) -> str:
    if not b:
        return "unknown"
    return ", ".join(f"{a} {v.get('free')} free + {v.get('locked')} locked"
                     for a, v in sorted(b.items()))
