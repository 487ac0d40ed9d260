"""Trade counters for the risk limits: trades per UTC day and the time of the last trade.
A "trade" is an order of ours that got at least one fill. Pure: time is passed in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from daemon.errors import StateError


def utc_day(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class TradeCounters:
    day: str = ""
    trades_today: int = 0
    last_trade_ms: int | None = None
    trades_total: int = 0

    def today(self, now_ms: int) -> int:
        """Trades so far in the UTC day of ``now_ms`` (0 once the day has turned)."""
        return self.trades_today if self.day == utc_day(now_ms) else 0

    def record_trade(self, now_ms: int) -> TradeCounters:
        return replace(self, day=utc_day(now_ms), trades_today=self.today(now_ms) + 1,
                       last_trade_ms=now_ms, trades_total=self.trades_total + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "trades_today": self.trades_today,
                "last_trade_ms": self.last_trade_ms, "trades_total": self.trades_total}

    @classmethod
    def from_dict(cls, data: object, *, key: str = "counters") -> TradeCounters:
        if not isinstance(data, dict):
            raise StateError(f"{key}: expected an object, got {type(data).__name__}")
        try:
            day = data["day"]
            today = data["trades_today"]
            last = data["last_trade_ms"]
            total = data.get("trades_total", 0)
        except KeyError as exc:
            raise StateError(f"{key}.{exc.args[0]}: missing") from None
        if not isinstance(day, str):
            raise StateError(f"{key}.day: expected a string, got {day!r}")
        for name, value in (("trades_today", today), ("trades_total", total)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise StateError(f"{key}.{name}: expected a count >= 0, got {value!r}")
        if last is not None and (not isinstance(last, int) or isinstance(last, bool)):
            raise StateError(f"{key}.last_trade_ms: expected epoch ms or null, got {last!r}")
        return cls(day=day, trades_today=today, last_trade_ms=last, trades_total=total)
