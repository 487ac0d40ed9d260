"""Snapshots of the running state: the planner's input (``Snapshot``), the checkpoint written
to the heartbeat key, and the one-line status for systemd and the logs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from daemon.config import Settings
from daemon.domain.models import Balance, BookTop, ExchangeRules
from daemon.domain.planner import Plan, Snapshot
from daemon.domain.snapshot import snapshot_to_dict
from daemon.runtime.executor import Executor
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.market_feed import MarketView


def planner_snapshot(market: MarketView, ledger: Ledger, rules: ExchangeRules, now: int,
                     halted: bool, book: BookTop | None = None) -> Snapshot:
    window = market.window
    bal = ledger.balances
    return Snapshot(
        price=market.last_price,
        base=bal.get(rules.base_asset, Balance(rules.base_asset, Decimal(0), Decimal(0))),
        quote=bal.get(rules.quote_asset, Balance(rules.quote_asset, Decimal(0), Decimal(0))),
        rules=rules,
        ma_short=window.ma_short, ma_long=window.ma_long, trend=window.trend,
        cost_basis=ledger.cost.avg_cost, core_floor=ledger.core_floor,
        trades_today=ledger.counters.trades_on(now),
        last_trade_ms=ledger.counters.last_trade_ms, now_ms=now,
        last_price_ms=market.last_price_ms, halted=halted,
        bid=None if book is None else book.bid_price,
        ask=None if book is None else book.ask_price)


def lease_state(lease: TradingLease) -> str:
    if lease.phase is Phase.STOPPING:
        return "stopping"
    return "trading" if lease.holds else "standby"


def checkpoint(settings: Settings, now_ms: int, lease: TradingLease, market: MarketView,
               ledger: Ledger, executor: Executor, evaluations: int,
               stopped: bool = False) -> dict[str, Any]:
    window = market.window
    price = market.last_price
    in_flight = executor.in_flight
    return {
        "time_ms": now_ms, "owner": lease.owner,
        "state": "stopped" if stopped else lease_state(lease), "phase": lease.phase.value,
        "mode": settings.mode.value, "symbol": settings.symbol,
        "price": None if price is None else str(price),
        "ma_short": _s(window.ma_short), "ma_long": _s(window.ma_long),
        "trend": window.trend.value if window.trend else None,
        "candles": len(window), "evaluations": evaluations,
        "in_flight": in_flight.client_order_id if in_flight else None,
        "books": ledger.summary(price),
        # for readers of this key (status, pnl): the target and the symbol's precision
        "target_ratio": str(settings.strategy.ratio),
        "assets": {"base": ledger.rules.base_asset, "quote": ledger.rules.quote_asset},
        "precision": {"price": ledger.rules.quote_precision,
                      "qty": ledger.rules.base_precision},
        # what `rebalancer plan` without --snapshot evaluates: the planner's inputs now
        "snapshot": decision_inputs(settings, now_ms, market, ledger),
    }


def decision_inputs(settings: Settings, now_ms: int, market: MarketView,
                    ledger: Ledger) -> dict[str, object]:
    """The planner's snapshot at ``now_ms`` as a snapshot document (daemon/domain/snapshot.py)
    with the stream's best bid/ask while fresh; without ``halted``: the halt flag is its own
    key, which readers take as it is when they read."""
    top, at = market.book
    fresh = top is not None and at is not None and \
        now_ms - at <= settings.risk.stale_after_s * 1000
    doc = snapshot_to_dict(planner_snapshot(market, ledger, ledger.rules, now_ms, False,
                                            top if fresh else None))
    del doc["halted"]
    return doc


def status_line(settings: Settings, lease: TradingLease, market: MarketView,
                plan: Plan | None) -> str:
    trend = market.window.trend
    return (f"{settings.symbol} {settings.mode.value} "
            f"{'trading' if lease.holds else 'standby'} "
            f"price={market.last_price} "
            f"trend={trend.value if trend else 'n/a'} "
            f"last={plan.action + ':' + plan.reason_code if plan else 'none'}")


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
