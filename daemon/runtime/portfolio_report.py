"""What a portfolio reports (heartbeat checkpoint, status line, metrics): each asset (price,
averages, value, weight, drift against its target, its books: cost basis, realized and
unrealized PnL, core floor, counters) and the total (value, the largest |drift|, PnL summed).
Figures are None where a price or a balance is unknown; decimals as strings in the
checkpoint."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from daemon.config import Settings
from daemon.domain.models import ExchangeRules
from daemon.runtime.executor import Executor
from daemon.runtime.ledger import Ledger
from daemon.runtime.market_feed import PairFeed
from daemon.runtime.metrics import PREFIX, BasketGauges
from daemon.runtime.snapshots import decision_inputs


class Pair(Protocol):
    asset: str
    weight: Decimal
    rules: ExchangeRules
    ledger: Ledger
    executor: Executor
    market: PairFeed


@dataclass(frozen=True, slots=True)
class AssetFigures:
    asset: str
    symbol: str
    target: Decimal
    price: Decimal | None
    qty: Decimal
    value: Decimal | None
    weight: Decimal | None
    drift: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None


@dataclass(frozen=True, slots=True)
class Totals:
    quote_asset: str
    quote_total: Decimal
    value: Decimal | None
    drift: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    assets: tuple[AssetFigures, ...]


def figures(pairs: Sequence[Pair]) -> Totals:
    """Each asset's figures and the portfolio's from the books and prices in memory."""
    quote_asset = pairs[0].rules.quote_asset
    q = pairs[0].ledger.balances.get(quote_asset)
    quote_total = q.total if q is not None else Decimal(0)
    rows = []
    for p in pairs:
        price = p.market.last_price
        b = p.ledger.balances.get(p.rules.base_asset)
        qty = b.total if b is not None else Decimal(0)
        rows.append((p, price, qty, None if price is None else qty * price))
    values = [v for *_, v in rows]
    total = None if any(v is None for v in values) else quote_total + sum(
        (v for v in values if v is not None), Decimal(0))
    assets = []
    for p, price, qty, value in rows:
        weight = None if value is None or not total else value / total
        assets.append(AssetFigures(
            p.asset, p.rules.symbol, p.weight, price, qty, value, weight,
            None if weight is None else weight - p.weight, p.ledger.cost.realized_pnl,
            None if price is None else p.ledger.cost.unrealized(price)))
    drifts = [a.drift for a in assets]
    unrealized = [a.unrealized_pnl for a in assets]
    return Totals(
        quote_asset, quote_total, total,
        None if any(d is None for d in drifts) else max(abs(d) for d in drifts if d is not None),
        sum((a.realized_pnl for a in assets), Decimal(0)),
        None if any(u is None for u in unrealized)
        else sum((u for u in unrealized if u is not None), Decimal(0)), tuple(assets))


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def checkpoint_part(pairs: Sequence[Pair]) -> dict[str, Any]:
    """The heartbeat's ``portfolio`` object (read by ``rebalancer status``)."""
    t = figures(pairs)
    by_asset = {p.asset: p for p in pairs}
    assets: dict[str, Any] = {}
    for a in t.assets:
        p = by_asset[a.asset]
        window, flight = p.market.window, p.executor.in_flight
        assets[a.asset] = {
            "symbol": a.symbol, "target_weight": str(a.target), "price": _s(a.price),
            "ma_short": _s(window.ma_short), "ma_long": _s(window.ma_long),
            "trend": window.trend.value if window.trend else None, "candles": len(window),
            "qty": str(a.qty), "value": _s(a.value), "weight": _s(a.weight),
            "drift": _s(a.drift), "in_flight": flight.client_order_id if flight else None,
            "books": p.ledger.summary(a.price),
            "precision": {"price": p.rules.quote_precision, "qty": p.rules.base_precision}}
    return {"quote": t.quote_asset, "quote_total": str(t.quote_total),
            "total_value": _s(t.value), "drift": _s(t.drift),
            "realized_pnl": str(t.realized_pnl), "unrealized_pnl": _s(t.unrealized_pnl),
            "assets": assets}


def portfolio_inputs(pairs: Sequence[Pair], settings: Settings, now_ms: int
                     ) -> dict[str, Any]:
    """The planner's inputs of every leg at ``now_ms`` as a portfolio snapshot document
    (daemon/domain/portfolio_snapshot.py): what ``rebalancer plan`` without --snapshot
    evaluates for a basket. The balances once (the quote's as the first pair's books hold
    it, as the evaluation takes it), each asset's price, averages, trend, books and rules;
    without ``halted`` (the halt flag is its own key)."""
    balances: dict[str, object] = {}
    assets: dict[str, object] = {}
    for p in pairs:
        doc = decision_inputs(settings, now_ms, p.market, p.ledger)
        held = doc.pop("balances")
        assert isinstance(held, dict)
        for asset in (p.rules.base_asset, p.rules.quote_asset):
            balances.setdefault(asset, held[asset])
        del doc["now_ms"]
        assets[p.asset] = doc
    return {"balances": balances, "now_ms": now_ms, "assets": assets}


def basket_gauges(pairs: Sequence[Pair]) -> BasketGauges:
    """The single pair's gauges (rebalancer_portfolio_value, _drift, _realized_pnl,
    _unrealized_pnl, _price_age_seconds) for a basket: its totals, the signed drift of the
    asset farthest from its target, its oldest price."""
    t = figures(pairs)
    drifts = [a.drift for a in t.assets]
    drift = None if any(d is None for d in drifts) else max(
        (d for d in drifts if d is not None), key=abs)
    times = [p.market.last_price_ms for p in pairs]
    oldest = None if any(at is None for at in times) else min(
        at for at in times if at is not None)
    return BasketGauges(t.value, drift, t.realized_pnl, t.unrealized_pnl, oldest)


def status_line(pairs: Sequence[Pair]) -> str:
    t = figures(pairs)
    parts = [f"{a.asset} {'n/a' if a.weight is None else f'{a.weight * 100:.1f}%'}"
             f"/{(a.target * 100).normalize():f}%" for a in t.assets]
    value = "n/a" if t.value is None else f"{t.value:.2f}"
    return f"value={value} {t.quote_asset} ({', '.join(parts)})"


class PortfolioCollector(Collector):
    """Per asset and in total, next to the single-pair metrics (which show the totals, see
    ``basket_gauges``)."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self._pairs = tuple(pairs)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        t = figures(self._pairs)
        per = {name: GaugeMetricFamily(f"{PREFIX}_asset_{name}", doc, labels=["asset"])
               for name, doc in (
                   ("price", "Last price of the asset's pair (quote asset)"),
                   ("value", "The asset's holding at the last price (quote asset)"),
                   ("weight", "The asset's share of the portfolio value (0..1)"),
                   ("target_weight", "portfolio.targets: the asset's target share"),
                   ("drift", "weight minus target_weight (signed)"),
                   ("realized_pnl", "Realized PnL of the asset's cost basis (quote asset)"),
                   ("unrealized_pnl", "Unrealized PnL at the last price (quote asset)"))}
        for a in t.assets:
            for name, value in (("price", a.price), ("value", a.value), ("weight", a.weight),
                                ("target_weight", a.target), ("drift", a.drift),
                                ("realized_pnl", a.realized_pnl),
                                ("unrealized_pnl", a.unrealized_pnl)):
                if value is not None:
                    per[name].add_metric([a.asset], float(value))
        yield from per.values()
        for name, doc, value in (
                ("total_value", "The portfolio's value: quote plus every asset (quote asset)",
                 t.value),
                ("total_drift", "The largest |drift| of the assets", t.drift),
                ("total_realized_pnl", "Realized PnL summed over the assets", t.realized_pnl),
                ("total_unrealized_pnl", "Unrealized PnL summed over the assets",
                 t.unrealized_pnl)):
            family = GaugeMetricFamily(f"{PREFIX}_portfolio_{name}", doc)
            if value is not None:
                family.add_metric([], float(value))
            yield family
