"""The composition root of a portfolio (``portfolio:`` in config.yaml): per pair today's
single-pair parts (a RedisStore and Ledger under the pair's prefix, an Executor, its market
data: with several assets a ``HubPair`` of ONE ``MarketHub`` following every pair, handed to
the engine as ``HubMarket``; with one asset a ``MarketFeed``, as the single pair), ONE lease
for the process (held on its key and every pair's own lease key: each pair store's fenced
writes check the pair's), ONE private user stream for the
account routed to the pair's executor by client order id. Like ``compose``: the I/O first
(Redis, the pairs' rules: every pair listed and tradable, else a ConfigError naming it, the
stored state), then the parts; a failed build closes what it opened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_records import StoredState
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, Settings
from daemon.domain.candles import CrossoverEvent
from daemon.domain.models import Balance, ExchangeRules, Fill, OrderReport
from daemon.runtime.compose import _connect, _load_state
from daemon.runtime.engine import Parts, wall_ms
from daemon.runtime.executor import Executor
from daemon.runtime.lease import TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.market_feed import Market, MarketFeed, PairFeed, UserFeed
from daemon.runtime.market_hub import MarketHub
from daemon.runtime.portfolio_engine import PairUnit, PortfolioEngine
from daemon.runtime.portfolio_market import HubMarket
from daemon.runtime.portfolio_pairs import (
    PairSpec,
    pair_specs,
    portfolio_rules,
    process_prefix,
    process_settings,
)
from daemon.runtime.settings_ref import SettingsRef
from daemon.runtime.startup import StartupRetry
from daemon.runtime.supervisor import Supervisor


def _store(spec: PairSpec, settings: Settings) -> RedisStore:
    r = spec.settings.redis
    return RedisStore(r.url, spec.settings.key_prefix, plan_history_max=r.plan_history_max,
                      recent_orders_max=r.recent_orders_max,
                      process_prefix=process_prefix(settings))


async def build_portfolio_engine(settings: Settings, creds: Credentials | None,
                                 supervisor: Supervisor, *, rest: MexcRest | None = None
                                 ) -> PortfolioEngine:
    """As ``compose.build_engine``, for every pair of ``settings.portfolio``."""
    assert settings.portfolio is not None
    specs = pair_specs(settings)
    stores = [_store(spec, settings) for spec in specs]
    rest = rest or MexcRest(settings.exchange, creds)
    client = rest
    try:
        for spec, store in zip(specs, stores, strict=True):
            await _connect(store, spec.settings)
        retry = StartupRetry(settings.runtime.startup_timeout_s)
        await retry("server time", client.start)
        portfolio = settings.portfolio
        rules = await retry("exchange rules", lambda: portfolio_rules(client, portfolio))
        states = []
        for spec, store in zip(specs, stores, strict=True):
            states.append(await retry(f"stored state of {spec.symbol}", _loader(
                store, spec.settings, client, creds)))
    except BaseException:
        await rest.close()
        for store in stores:
            await store.close()
        raise
    return assemble_portfolio(settings, creds, stores, rest, rules, states, supervisor,
                              startup=retry)


def _loader(store: RedisStore, settings: Settings, rest: MexcRest, creds: Credentials | None
            ) -> Callable[[], Awaitable[StoredState]]:
    return lambda: _load_state(store, settings, rest, creds)


def assemble_portfolio(settings: Settings, creds: Credentials | None,
                       stores: Sequence[RedisStore], rest: MexcRest,
                       rules: Mapping[str, ExchangeRules], states: Sequence[StoredState],
                       supervisor: Supervisor, *, startup: StartupRetry | None = None
                       ) -> PortfolioEngine:
    """Wire the parts (no I/O): the first pair's store carries the process's keys (its lease,
    heartbeat, halt flag and plans, under the portfolio prefix with several assets)."""
    specs = pair_specs(settings)
    ref = SettingsRef(process_settings(settings))
    lease = TradingLease(stores[0], ref,
                         pair_lease_keys=[s.books_lease_key for s in stores])
    units: list[PairUnit] = []
    engine: PortfolioEngine | None = None

    def on_crossover(asset: str) -> Callable[[CrossoverEvent], Awaitable[None]]:
        async def call(event: CrossoverEvent) -> None:
            assert engine is not None  # built below, before any candle
            await engine.on_pair_crossover(asset, event)
        return call

    hub = _hub(settings, specs, rest, supervisor, lambda: engine)
    for spec, store, state in zip(specs, stores, states, strict=True):
        pair_ref = SettingsRef(spec.settings)
        ledger = Ledger(store, pair_ref, rules[spec.asset], state, wall_ms,
                        lease_owner=lease.owner)
        executor = Executor(pair_ref, rest, ledger, wall_ms, lease)
        market: PairFeed = (
            hub.pair(spec.symbol) if hub is not None else
            MarketFeed(spec.settings, rest, on_crossover=on_crossover(spec.asset),
                       supervisor=supervisor))
        units.append(PairUnit(spec.asset, spec.weight, pair_ref, store, rules[spec.asset],
                              ledger, executor, market))
    router = OrderRouter(units)
    user_feeds: tuple[UserFeed, ...] = ()
    if creds is not None:
        user_feeds = (UserFeed(ref.current, rest, on_order=router.on_report,
                               on_fill=router.on_fill, on_balances=router.on_balances,
                               on_recheck=router.recheck, supervisor=supervisor),)
    first = units[0]
    engine_market: Market
    if hub is not None:
        engine_market = HubMarket(hub)
    else:
        assert isinstance(first.market, MarketFeed)
        engine_market = first.market
    engine = PortfolioEngine(Parts(
        settings=ref, store=first.store, rest=rest, rules=first.rules, lease=lease,
        ledger=first.ledger, executor=first.executor,
        market=engine_market,
        user_feeds=user_feeds, supervisor=supervisor, startup=startup), tuple(units))
    logger.debug("portfolio engine assembled for {} ({})",
                 ", ".join(u.rules.symbol for u in units), lease.owner)
    return engine


def _hub(settings: Settings, specs: Sequence[PairSpec], rest: MexcRest, supervisor: Supervisor,
         engine: Callable[[], PortfolioEngine | None]) -> MarketHub | None:
    """Several assets: ONE MarketHub following every pair (its crossovers routed to the
    engine by asset); one asset: None (its MarketFeed, exactly the single pair's)."""
    if len(specs) < 2:
        return None
    asset_of = {spec.symbol: spec.asset for spec in specs}

    async def on_crossover(symbol: str, event: CrossoverEvent) -> None:
        built = engine()
        assert built is not None  # built before the hub starts, so before any candle
        await built.on_pair_crossover(asset_of[symbol], event)

    return MarketHub(settings, rest, [spec.symbol for spec in specs],
                     on_crossover=on_crossover, supervisor=supervisor)


class OrderRouter:
    """The account's ONE private stream, routed: an order or deal push to the executor of the
    pair whose books hold its client order id (each id is written ahead to one pair's books
    before it is sent), else of its symbol; every balance change to every pair's ledger."""

    def __init__(self, units: Sequence[PairUnit]) -> None:
        self._units = tuple(units)

    def _unit(self, coid: str | None, symbol: str | None = None) -> PairUnit | None:
        for unit in self._units:
            flight = unit.executor.in_flight
            if coid and (coid in unit.ledger.orders or (
                    flight is not None and flight.client_order_id == coid)):
                return unit
        return next((u for u in self._units if u.rules.symbol == symbol), None)

    async def on_report(self, report: OrderReport) -> None:
        unit = self._unit(report.client_order_id, report.symbol)
        if unit is not None:
            await unit.executor.on_report(report)

    async def on_fill(self, fill: Fill) -> None:
        unit = self._unit(fill.client_order_id)
        if unit is not None:
            await unit.executor.on_fill(fill)

    async def recheck(self, coid: str) -> None:
        unit = self._unit(coid)
        if unit is not None:
            await unit.executor.recheck(coid)

    async def on_balances(self, balances: dict[str, Balance]) -> None:
        for unit in self._units:
            await unit.ledger.on_balances(balances)
