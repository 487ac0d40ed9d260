"""``/healthz`` of a portfolio: the single pair's answer plus each asset (its price's age, its
market stream, value, weight and drift) and the total (value, the largest |drift|)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from daemon.runtime.http_endpoint import HttpEndpoint
from daemon.runtime.portfolio_report import figures

if TYPE_CHECKING:
    from daemon.runtime.portfolio_engine import PortfolioEngine


def _s(value: object) -> str | None:
    return None if value is None else str(value)


class PortfolioHttpEndpoint(HttpEndpoint):
    def __init__(self, engine: PortfolioEngine, listen: str) -> None:
        super().__init__(engine, listen)
        self.portfolio = engine

    async def health(self) -> dict[str, Any]:
        body = await super().health()
        units = self.portfolio.units
        t = figures(units)
        body["symbol"] = ",".join(u.symbol for u in units)
        assets: dict[str, Any] = {}
        for unit, a in zip(units, t.assets, strict=True):
            at = unit.market.last_price_ms
            assets[a.asset] = {
                "symbol": a.symbol, "market_connected": unit.market.stream.connected.is_set(),
                "price_age_s": None if at is None else round(max(time.time() - at / 1000,
                                                                 0.0), 3),
                "value": _s(a.value), "weight": _s(a.weight), "target_weight": str(a.target),
                "drift": _s(a.drift)}
        body["portfolio"] = {"quote": t.quote_asset, "total_value": _s(t.value),
                             "drift": _s(t.drift), "assets": assets}
        return body
