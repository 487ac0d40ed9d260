"""The composition root: does the I/O needed to build the engine's parts (REST session,
exchange rules; Redis connect, the empty-prefix guard, schema check, stored state), then builds
every part, so the engine never holds a part that is "not there yet". A failed build closes what
it opened."""

from __future__ import annotations

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_records import StoredState
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, Settings
from daemon.domain.candles import CrossoverEvent
from daemon.domain.models import ExchangeRules
from daemon.errors import StoreUnavailable
from daemon.runtime.engine import Parts, RebalancerEngine, wall_ms
from daemon.runtime.executor import Executor
from daemon.runtime.lease import TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.market_feed import MarketFeed, UserFeed
from daemon.runtime.order_index import load_window
from daemon.runtime.persistence import check_persistence
from daemon.runtime.rebuild import guard_empty_prefix
from daemon.runtime.settings_ref import SettingsRef
from daemon.runtime.startup import StartupRetry
from daemon.runtime.supervisor import Supervisor


async def build_engine(settings: Settings, creds: Credentials | None, supervisor: Supervisor,
                       *, rest: MexcRest | None = None) -> RebalancerEngine:
    """REST session, exchange rules and Redis state first (startup order), then every part.
    The engine's background tasks will run under ``supervisor``. ``rest``: a client of the
    caller's (a benchmark's instrumented session); the engine closes it like its own. Each
    step that talks to the exchange is retried while it fails transiently, within
    ``runtime.startup_timeout_s`` for the whole startup (``engine.start`` included).
    A ``portfolio`` config builds the portfolio engine (daemon.runtime.portfolio_compose)."""
    if settings.portfolio is not None:
        from daemon.runtime.portfolio_compose import build_portfolio_engine

        return await build_portfolio_engine(settings, creds, supervisor, rest=rest)
    store = RedisStore(settings.redis.url, settings.key_prefix,
                       plan_history_max=settings.redis.plan_history_max,
                       recent_orders_max=settings.redis.recent_orders_max)
    rest = rest or MexcRest(settings.exchange, creds)
    client = rest
    try:
        await _connect(store, settings)  # a Redis that would lose the books says so first
        retry = StartupRetry(settings.runtime.startup_timeout_s)  # from Redis up (it waits)
        await retry("server time", client.start)
        rules = await retry("exchange rules",  # then a bad symbol
                            lambda: client.exchange_rules(settings.symbol))
        state = await retry("stored state", lambda: _load_state(store, settings, client, creds))
    except BaseException:
        await rest.close()
        await store.close()
        raise
    return assemble(SettingsRef(settings), creds, store, rest, rules, state, supervisor,
                    startup=retry)


async def _connect(store: RedisStore, settings: Settings) -> None:
    try:
        await store.connect()
    except StoreUnavailable:
        await store.wait_available(settings.redis.retry_interval_s)
    await check_persistence(store, settings)  # live refuses a Redis without AOF: before writes


async def _load_state(store: RedisStore, settings: Settings, rest: MexcRest,
                      creds: Credentials | None) -> StoredState:
    await guard_empty_prefix(store, rest, settings, creds)  # before any schema is written
    await store.check_schema()
    window = load_window(wall_ms(), settings.execution.lost_order_watch_s)
    return await store.load_state(recent=window.recent, since_ms=window.since_ms)


def assemble(settings: SettingsRef, creds: Credentials | None, store: RedisStore,
             rest: MexcRest, rules: ExchangeRules, state: StoredState,
             supervisor: Supervisor, *, startup: StartupRetry | None = None
             ) -> RebalancerEngine:
    """Wire the parts (no I/O). Balances flow from the private stream into the ledger through
    the feed's callback; every part reads the one settings holder."""
    current = settings.current
    lease = TradingLease(store, settings)
    ledger = Ledger(store, settings, rules, state, wall_ms, lease_owner=lease.owner)
    executor = Executor(settings, rest, ledger, wall_ms, lease)

    async def on_crossover(event: CrossoverEvent) -> None:
        await engine.on_crossover(event)  # the engine is built below, before any candle

    market = MarketFeed(current, rest, on_crossover=on_crossover, supervisor=supervisor)
    user_feeds: tuple[UserFeed, ...] = ()
    if creds is not None:
        user_feeds = (UserFeed(current, rest, on_order=executor.on_report,
                               on_fill=executor.on_fill, on_balances=ledger.on_balances,
                               # a skipped push about an order of ours: ask the exchange
                               on_recheck=executor.recheck,
                               supervisor=supervisor),)
    engine = RebalancerEngine(Parts(
        settings=settings, store=store, rest=rest, rules=rules, lease=lease, ledger=ledger,
        executor=executor, market=market, user_feeds=user_feeds, supervisor=supervisor,
        startup=startup))
    logger.debug("engine assembled for {} ({})", current.symbol, lease.owner)
    return engine
