"""``rebalancer status`` for a portfolio of several assets: the process's state (heartbeat,
lease phase, health, halt, last plan: under the portfolio's prefix) and, per asset, its pair's
books (``bot:<PAIR>:``: cost basis, realized and unrealized PnL, core floor and credit,
counters, open orders) with its value, weight and drift from the heartbeat; then the total.
Exit codes as for the single pair (daemon/commands/status.py)."""

from __future__ import annotations

from typing import Any

from daemon.adapters.redis_codec import order_to_dict
from daemon.adapters.redis_store import RedisStore
from daemon.commands.status import (
    EXIT_HEALTHY,
    EXIT_UNHEALTHY,
    _p,
    _pct,
    _pts,
    _verdict,
    header_lines,
)
from daemon.config import Settings


async def collect_portfolio_status(settings: Settings, now_ms: int) -> dict[str, Any]:
    p = settings.portfolio
    assert p is not None
    assets: dict[str, Any] = {}
    beat: dict[str, Any] | None = None
    halted = last_plan = None
    for asset, symbol in p.pairs().items():
        store = RedisStore(settings.redis.url, f"bot:{symbol}:", socket_timeout_s=3.0,
                           process_prefix=settings.key_prefix)
        try:
            await store.connect()
            state = await store.load_state(adopt=False)
            if beat is None:
                beat = await store.get_heartbeat()
                halted = None if state.halt is None else {"reason": state.halt.reason,
                                                          "time_ms": state.halt.time_ms}
                last_plan = state.last_plan
        finally:
            await store.close()
        live = (((beat or {}).get("portfolio") or {}).get("assets") or {}).get(asset) or {}
        books = live.get("books") or {}
        assets[asset] = {
            "symbol": symbol, "target_weight": str(p.targets[asset]),
            **{k: live.get(k) for k in ("price", "trend", "qty", "value", "weight", "drift",
                                        "in_flight")},
            "cost_basis": state.cost_basis and {k: state.cost_basis.get(k) for k in (
                "avg_cost", "qty", "realized_pnl")},
            "unrealized_pnl": books.get("unrealized_pnl"),
            "core_floor": None if state.core_floor is None else str(state.core_floor),
            "core_credit": str(state.core_credit),
            "counters": state.counters.to_dict(),
            "open_orders": [order_to_dict(o) for o in state.open_orders],
            "precision": live.get("precision")}
    age = None if beat is None else round((now_ms - beat["time_ms"]) / 1000, 1)
    verdict, problems = _verdict(beat, age, halted, settings)
    total = (beat or {}).get("portfolio") or {}
    return {
        "state": verdict, "exit_code": EXIT_HEALTHY if not problems else EXIT_UNHEALTHY,
        "problems": problems, "heartbeat_age_s": age,
        "daemon": None if beat is None else {k: beat.get(k) for k in (
            "state", "phase", "mode", "owner", "in_flight", "health")},
        "halted": halted,
        "quote": p.quote,
        "total": {k: total.get(k) for k in ("quote_total", "total_value", "drift",
                                            "realized_pnl", "unrealized_pnl")},
        "assets": assets,
        "last_plan": last_plan and {k: last_plan.get(k) for k in (
            "cycle_id", "trigger", "time_ms", "total_value", "drift", "dry_run")},
    }


def format_portfolio_status(r: dict[str, Any], settings: Settings) -> str:
    t = r["total"]
    lines = header_lines(
        r, f"portfolio {', '.join(r['assets'])} against {r['quote']} ({settings.key_prefix})")
    for asset, a in r["assets"].items():
        px = int((a.get("precision") or {}).get("price", 8))
        cb = a["cost_basis"] or {}
        lines += [
            f"{asset:<11} {a['symbol']} price {_p(a['price'], px)} trend {a['trend']}: "
            f"{a['qty']} worth {_p(a['value'], 2)} {r['quote']}, weight {_pct(a['weight'])} "
            f"(target {_pct(a['target_weight'])}, drift {_pts(a['drift'])})",
            f"            cost {_p(cb.get('avg_cost'), px)} realized "
            f"{_p(cb.get('realized_pnl'), px)} unrealized {_p(a['unrealized_pnl'], px)}; core "
            f"floor {a['core_floor']} (credit {a['core_credit']}); trades today "
            f"{a['counters']['trades_today']}, total {a['counters']['trades_total']}; open "
            f"orders {len(a['open_orders'])}"]
        lines += [f"            {o['client_order_id']} {o['side']} {o['qty']} @ {o['price']} "
                  f"{o['status']}" for o in a["open_orders"]]
    lines += [
        f"total       value {_p(t['total_value'], 2)} {r['quote']} ({r['quote']} "
        f"{_p(t['quote_total'], 2)}), largest drift {_pts(t['drift'])}, realized "
        f"{_p(t['realized_pnl'], 2)} unrealized {_p(t['unrealized_pnl'], 2)}",
    ]
    lp = r["last_plan"]
    if lp:
        lines.append(f"last plan   {lp.get('cycle_id')} ({lp.get('trigger')})")
    return "\n".join(lines)
