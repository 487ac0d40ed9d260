"""Builders for planner tests: snapshots and parameters from short keyword arguments (the
parameters go through the validated settings, as in production)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from daemon.config import RiskSettings, StrategySettings
from daemon.domain.models import Balance, ExchangeRules, Trend
from daemon.domain.params import RiskParams, StrategyParams
from daemon.domain.planner import Snapshot

D = Decimal


def rules(**kw: Any) -> ExchangeRules:
    values: dict[str, Any] = {
        "symbol": "QRLUSDT", "base_asset": "QRL", "quote_asset": "USDT",
        "base_precision": 8, "quote_precision": 8, "min_qty": D(0),
        "min_notional": D(0), "taker_fee": D(0),
    }
    values.update(kw)
    return ExchangeRules(**values)


def snap(
    q: str | Decimal, u: str | Decimal, p: str | Decimal | None, *,
    q_locked: str = "0", u_locked: str = "0", trend: Trend | None = None,
    cost: str | None = None, core: str | None = None, ma_short: str | None = None,
    ma_long: str | None = None, trades_today: int = 0, last_trade_ms: int | None = None,
    now_ms: int | None = 1_700_000_000_000, last_price_ms: int | None = None,
    halted: bool = False, bid: str | None = None, ask: str | None = None, **rule_kw: Any,
) -> Snapshot:
    return Snapshot(
        price=None if p is None else D(p),
        base=Balance("QRL", D(q), D(q_locked)),
        quote=Balance("USDT", D(u), D(u_locked)),
        rules=rules(**rule_kw),
        ma_short=None if ma_short is None else D(ma_short),
        ma_long=None if ma_long is None else D(ma_long),
        trend=trend,
        cost_basis=None if cost is None else D(cost),
        core_floor=None if core is None else D(core),
        trades_today=trades_today, last_trade_ms=last_trade_ms, now_ms=now_ms,
        last_price_ms=now_ms if last_price_ms is None else last_price_ms, halted=halted,
        bid=None if bid is None else D(bid), ask=None if ask is None else D(ask),
    )


def strategy(name: str = "intelligent", **kw: Any) -> StrategyParams:
    """STRATEGY.md's vectors run with ``max_drift`` null unless they name it."""
    kw.setdefault("max_drift", None)
    return StrategySettings(name=name, **kw).params()


def risk(**kw: Any) -> RiskParams:
    return RiskSettings(**kw).params()


def leg_snap(
    asset: str, q: str, p: str | None, *, trend: Trend | None = None, cost: str | None = None,
    core: str | None = None, trades_today: int = 0, last_trade_ms: int | None = None,
    **rule_kw: Any,
) -> Snapshot:
    """One leg of a portfolio: ``asset``/USDT (the quote balance is the portfolio's)."""
    s = snap(q, "0", p, trend=trend, cost=cost, core=core, trades_today=trades_today,
             last_trade_ms=last_trade_ms,
             **{"symbol": f"{asset}USDT", "base_asset": asset, **rule_kw})
    return replace(s, base=Balance(asset, D(q), D(0)))
