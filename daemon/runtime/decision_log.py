"""The decision line of each evaluation, for a person tailing the journal: prices and moving
averages at the symbol's precision, and a HOLD for the same reason as the last one not repeated
every evaluation (logged at DEBUG; every ``repeat_s`` one INFO line says it is unchanged since
when). The plan record in Redis is still written every time (the engine's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from daemon.domain.money import shown
from daemon.domain.planner import Plan

HOLD_REPEAT_S = 900.0  # an unchanged HOLD is said again at INFO this often


@dataclass
class _Held:
    reason_code: str
    since_ms: int
    said_ms: int
    count: int = 1


class DecisionLog:
    def __init__(self, repeat_s: float = HOLD_REPEAT_S) -> None:
        self.repeat_s = repeat_s
        self._held: _Held | None = None

    def line(self, plan: Plan, price: Decimal | None, ma_short: Decimal | None,
             ma_long: Decimal | None, decimals: int) -> str:
        """``HOLD 0 [within_threshold] ... (price 0.0499 MA short 0.0498 long 0.0501, drift
        +0.01 pts)``."""
        return (f"{plan.action} {plan.quantity} [{plan.reason_code}] {plan.reason} "
                f"(price {shown(price, decimals)} MA short {shown(ma_short, decimals)} long "
                f"{shown(ma_long, decimals)}, {plan.costs_line()})")

    def level(self, plan: Plan, now_ms: int) -> tuple[str, str]:
        """(level, prefix) for this decision: INFO for a trade, a new HOLD reason, or an
        unchanged HOLD every ``repeat_s``; DEBUG for an unchanged HOLD in between."""
        if plan.is_trade or plan.action != "HOLD":
            self._held = None
            return "INFO", ""
        code = str(plan.reason_code)
        held = self._held
        if held is None or held.reason_code != code:
            self._held = _Held(code, now_ms, now_ms)
            return "INFO", ""
        held.count += 1
        if now_ms - held.said_ms < self.repeat_s * 1000:
            return "DEBUG", ""
        held.said_ms = now_ms
        since = datetime.fromtimestamp(held.since_ms / 1000, UTC).strftime("%H:%M:%S")
        return "INFO", f"unchanged since {since} UTC ({held.count} evaluations): "
