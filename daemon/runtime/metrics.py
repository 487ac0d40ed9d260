"""Prometheus metrics of one engine, in a registry of its own (never the library's global one,
so that a process, or a test, can hold several engines).

Most values are read at scrape time from the running objects (``EngineCollector``): price,
MAs, trend, weights and drift, value, PnL, booked fills and fees and ended orders (the ledger's
``BookTally``), websocket reconnects, REST errors (``MexcRest.errors``), rate-limit waits,
Redis outage time, lease phase. Only a decision is hooked, once, in the engine
(``Metrics.decided``: the evaluations counter and the decision latency histogram): a dict
look-up and two increments, nothing on the decision path waits for a scrape.

Units are base units (seconds, ratios 0..1); money is in the symbol's quote asset (USDT for
QRLUSDT), base quantities in its base asset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from daemon.domain.models import Trend
from daemon.runtime.lease import Phase

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from daemon.runtime.engine import RebalancerEngine

PREFIX = "rebalancer"
# a decision takes about a millisecond; a slow Redis or a bookTicker round trip much longer
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0)
TREND_VALUE = {Trend.BULLISH: 1, Trend.NEUTRAL: 0, Trend.BEARISH: -1}

# No "<name>_created" series beside each counter and histogram: Prometheus does not need them
# in the text format, they only double the series (this sets the library's process-wide flag).
disable_created_metrics()  # type: ignore[no-untyped-call]


def package_version() -> str:
    try:
        return metadata.version("mexc-rebalancer")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


class Metrics:
    """The registry of one engine, its decision hook, and the collector reading the rest."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.evaluations = Counter(
            f"{PREFIX}_evaluations", "Decisions recorded, by the plan's reason code and the "
            "trigger (schedule, crossover, manual, recovery, ...)",
            ["reason_code", "trigger"], registry=self.registry)
        self.decision_latency = Histogram(
            f"{PREFIX}_decision_latency_seconds", "From the start of a decision (snapshot, "
            "planner) to its plan recorded in Redis", buckets=LATENCY_BUCKETS_S,
            registry=self.registry)
        self.last_decided: float | None = None  # time.monotonic() of the last decision

    def watch(self, engine: RebalancerEngine) -> None:
        self.collector = EngineCollector(engine, self)
        self.registry.register(self.collector)

    def decided(self, reason_code: str, trigger: str, started: float) -> None:
        """One decision recorded; ``started``: its ``time.perf_counter()`` at the start."""
        self.decision_latency.observe(time.perf_counter() - started)
        self.evaluations.labels(reason_code, trigger).inc()
        self.last_decided = time.monotonic()


def _gauge(name: str, doc: str, value: Decimal | float | int | None,
           unit: str = "") -> Iterator[Metric]:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, unit=unit)
    if value is not None:
        family.add_metric([], float(value))
    yield family


@dataclass(frozen=True, slots=True)
class BasketGauges:
    """What the single pair's gauges show for a portfolio of several assets: its total value
    and PnL, the signed drift of the asset farthest from its target, and the time of the
    oldest of its pairs' last prices (None where unknown)."""

    value: Decimal | None
    drift: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    price_ms: int | None


class EngineCollector(Collector):
    """Reads the engine when Prometheus scrapes (``/metrics``); never writes to it. For a
    basket (``basket`` set) the gauges of one pair show the portfolio's figures instead, or
    nothing where the basket has no single value (price, base weight, target, cost basis;
    see ``rebalancer_asset_*``)."""

    def __init__(self, engine: RebalancerEngine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self.version = package_version()
        self.basket: Callable[[], BasketGauges] | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._build()
        yield from self._market()
        yield from self._portfolio()
        yield from self._books()
        yield from self._operations()

    def _build(self) -> Iterator[Metric]:
        s = self.engine.settings.current
        info = InfoMetricFamily(f"{PREFIX}_build", "Version, symbol and mode of this daemon")
        info.add_metric([], {"version": self.version, "symbol": s.symbol, "mode": s.mode.value})
        yield info
        yield from _gauge("target_weight", "strategy.ratio: the base share of the portfolio "
                          "value aimed at (0..1)",
                          s.strategy.ratio if self.basket is None else None)
        yield from _gauge("evaluation_interval_seconds", "schedule.interval_s",
                          s.schedule.interval_s)

    def _market(self) -> Iterator[Metric]:
        market = self.engine.market
        window = market.window
        basket = None if self.basket is None else self.basket()
        yield from _gauge("price", "Last price (quote per base unit), the forming candle's "
                          "close", market.last_price if basket is None else None)
        at = market.last_price_ms if basket is None else basket.price_ms
        yield from _gauge("price_age_seconds", "Time since the last price update",
                          None if at is None else max(time.time() - at / 1000, 0.0))
        ma = GaugeMetricFamily(f"{PREFIX}_moving_average", "Simple moving averages of the "
                               "closed candles (quote per base unit)", labels=["window"])
        for name, value in (("short", window.ma_short), ("long", window.ma_long)):
            if value is not None:
                ma.add_metric([name], float(value))
        yield ma
        trend = window.trend
        yield from _gauge("trend", "MA trend: 1 bullish, 0 neutral, -1 bearish",
                          None if trend is None else TREND_VALUE[trend])

    def _portfolio(self) -> Iterator[Metric]:
        engine = self.engine
        balances = engine.ledger.balances
        value, weight, drift = self._weights()
        yield from _gauge("portfolio_value", "Base at the last price plus quote (quote asset)",
                          value)
        yield from _gauge("base_weight", "Base share of the portfolio value (0..1)", weight)
        yield from _gauge("drift", "base_weight minus target_weight (signed, -1..1)", drift)
        bal = GaugeMetricFamily(f"{PREFIX}_balance", "Balances the daemon decides on",
                                labels=["asset", "state"])
        for asset, b in sorted(balances.items()):
            bal.add_metric([asset, "free"], float(b.free))
            bal.add_metric([asset, "locked"], float(b.locked))
        yield bal

    def _weights(self) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(value, base weight, drift) of the pair; a basket's total value and drift."""
        if self.basket is not None:
            basket = self.basket()
            return basket.value, None, basket.drift
        engine = self.engine
        price = engine.market.last_price
        base = engine.ledger.balances.get(engine.rules.base_asset)
        quote = engine.ledger.balances.get(engine.rules.quote_asset)
        if price is None or base is None or quote is None:
            return None, None, None
        base_value = base.total * price
        value = base_value + quote.total
        if value <= 0:
            return value, None, None
        weight = base_value / value
        return value, weight, weight - engine.settings.current.strategy.ratio

    def _books(self) -> Iterator[Metric]:
        ledger = self.engine.ledger
        cost, price = ledger.cost, self.engine.market.last_price
        basket = None if self.basket is None else self.basket()
        realized = cost.realized_pnl if basket is None else basket.realized_pnl
        unrealized = (None if price is None else cost.unrealized(price)) if basket is None \
            else basket.unrealized_pnl
        yield from _gauge("realized_pnl", "Realized PnL of the cost basis (quote asset)",
                          realized)
        yield from _gauge("unrealized_pnl", "Unrealized PnL at the last price (quote asset)",
                          unrealized)
        yield from _gauge("cost_basis", "Average cost per base unit (quote asset)",
                          cost.avg_cost if basket is None else None)
        tally = ledger.tally
        fills = CounterMetricFamily(f"{PREFIX}_fills", "Fills booked by this process, by "
                                    "side", labels=["side"])
        for side in ("BUY", "SELL"):
            fills.add_metric([side], tally.fills[side])
        yield fills
        fees = CounterMetricFamily(f"{PREFIX}_fees_paid", "Fees of the fills booked by this "
                                   "process, in the fee's asset", labels=["asset"])
        for asset, amount in sorted(tally.fees.items()):
            fees.add_metric([asset], float(amount))
        yield fees
        orders = CounterMetricFamily(f"{PREFIX}_orders", "Orders of this process by the "
                                     "status they ended in", labels=["status"])
        for status, n in sorted(tally.orders_ended.items()):
            orders.add_metric([status], n)
        yield orders

    def _operations(self) -> Iterator[Metric]:
        engine = self.engine
        last = self.metrics.last_decided
        yield from _gauge("last_evaluation_age_seconds", "Time since the last decision was "
                          "recorded", None if last is None else time.monotonic() - last)
        yield from self._streams()
        rest = engine.rest
        errors = CounterMetricFamily(f"{PREFIX}_rest_errors", "Failed REST requests by HTTP "
                                     "status and MEXC code (none: not in the answer, or no "
                                     "answer)", labels=["status", "code"])
        for (status, code), n in sorted(rest.errors.items()):
            errors.add_metric([status, code], n)
        yield errors
        yield CounterMetricFamily(f"{PREFIX}_rest_requests", "REST requests sent",
                                  value=rest.requests_sent)
        yield CounterMetricFamily(f"{PREFIX}_rate_limit_wait_seconds", "Time requests waited "
                                  "for the client-side rate limiter (429 pauses included)",
                                  value=rest.limiter.waited_s)
        yield CounterMetricFamily(f"{PREFIX}_redis_outage_seconds", "Time Redis was "
                                  "unavailable (the current outage included)",
                                  value=engine.store.outage_s())
        yield from _gauge("redis_up", "1 while the last Redis call succeeded",
                          int(engine.store.available))
        phase = GaugeMetricFamily(f"{PREFIX}_lease_phase", "1 for the current phase of the "
                                  "trading lease", labels=["phase"])
        for p in Phase:
            phase.add_metric([p.value], int(engine.lease.phase is p))
        yield phase
        yield from _gauge("healthy", "1 while the streams are up and no evaluation is stuck "
                          "(what feeds the systemd watchdog)", int(engine.health() is None))
        alerts = engine.alerts
        sent = CounterMetricFamily(f"{PREFIX}_notifications", "Notifications by outcome: sent, "
                                   "failed (after the retries) or dropped (the queue was full)",
                                   labels=["outcome"])
        for outcome in ("sent", "failed", "dropped"):
            sent.add_metric([outcome], getattr(alerts, outcome))
        yield sent
        yield from _gauge("notifications_queued", "Notifications waiting to be sent",
                          alerts.queued)

    def _streams(self) -> Iterator[Metric]:
        streams = [("market", self.engine.market.stream),
                   *(("user", feed.stream) for feed in self.engine.user_feeds)]
        reconnects = CounterMetricFamily(f"{PREFIX}_websocket_reconnects", "Websocket "
                                         "reconnects after a lost connection",
                                         labels=["stream"])
        connected = GaugeMetricFamily(f"{PREFIX}_websocket_connected", "1 while the stream "
                                      "is connected and subscribed", labels=["stream"])
        for name, stream in streams:
            reconnects.add_metric([name], stream.stats.reconnects)
            connected.add_metric([name], int(stream.connected.is_set()))
        yield reconnects
        yield connected
