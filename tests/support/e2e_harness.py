"""Shared pieces of the end-to-end tests: settings pointing at a simulator and a Redis, the
engine run in-process, and the comparison of our books with the exchange's."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, Settings, parse_settings
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Fill
from daemon.runtime.app import App
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.supervisor import Supervisor, cancel_and_wait
from daemon.sim import Simulator


def e2e_settings(sim: Simulator, redis_url: str, **sections: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {
        "mode": "live",
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "request_timeout_ms": 2000},
        "redis": {"url": redis_url, "lease_ttl_s": 3},
        "schedule": {"interval_s": 1},
        "strategy": {"name": "symmetric", "threshold": 0.002},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 10000,
                 "max_price_deviation_pct": 100, "stale_after_s": 30, "min_notional": 1},
        "execution": {"order_timeout_s": 2, "poll_max_interval_s": 0.5},
        "health": {"heartbeat_interval_s": 0.5},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_settings(data)


def sim_creds(sim: Simulator) -> Credentials:
    return Credentials(api_key=SecretStr(sim.api_key), api_secret=SecretStr(sim.api_secret))


@asynccontextmanager
async def running_app(settings: Settings, creds: Credentials, config_path: Path) -> AsyncIterator[
        tuple[App, asyncio.Task[int]]]:
    """The whole daemon in-process (``App`` with ``build_engine``): its run task is cancelled
    and awaited if the test leaves it running."""
    app = App(config_path, settings, creds, build_engine)
    run = asyncio.create_task(app.run())
    try:
        yield app, run
    finally:
        if not run.done():
            await cancel_and_wait([run])


@contextmanager
def warning_messages() -> Iterator[list[str]]:
    """The messages logged at WARNING and above while the block runs."""
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="WARNING")
    try:
        yield said
    finally:
        logger.remove(sink)


@asynccontextmanager
async def running_engine(settings: Settings, creds: Credentials, *,
                         rest: MexcRest | None = None) -> AsyncIterator[RebalancerEngine]:
    """The engine started and running (``rest``: a REST client of the test's own, e.g. on a
    traced session); stopped, its run task awaited and its supervisor stopped at the end."""
    supervisor = Supervisor()
    engine = await build_engine(settings, creds, supervisor, rest=rest)
    await engine.start()
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        await asyncio.wait_for(engine.stop(), 30)
        # as the daemon does: a cancel lost inside a Redis call is sent again (a plain
        # cancel + gather hung a loaded run for 120 s after the engine had stopped)
        await cancel_and_wait([task])
        await supervisor.stop()


async def wait_for(cond: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s}s waiting for {what}")
        await asyncio.sleep(0.05)


FillKey = tuple[str, str, Decimal, Decimal, Decimal, str, str]


def exchange_fill_keys(sim: Simulator, symbol: str = "QRLUSDT") -> list[FillKey]:
    """The simulator's own myTrades rows, read straight from its dicts (not through our
    parser)."""
    return sorted((str(t["id"]), "BUY" if t["isBuyer"] else "SELL", Decimal(t["price"]),
                   Decimal(t["qty"]), Decimal(t["commission"]), str(t["commissionAsset"]),
                   str(t["orderId"])) for t in sim.my_trades(symbol))


async def stored_fills(redis_url: str, prefix: str = "bot:QRLUSDT:") -> tuple[
        list[Fill], dict[str, Any] | None]:
    store = RedisStore(redis_url, prefix)
    await store.connect()
    try:
        state = await store.load_state()
        return await store.get_fills(), state.cost_basis
    finally:
        await store.close()


def recompute(fills: list[Fill]) -> CostBasis:
    return CostBasis().apply_all(sorted(fills, key=lambda f: (f.time_ms, f.trade_id)),
                                 base_asset="QRL", quote_asset="USDT")


async def assert_books_match_exchange(sim: Simulator, redis_url: str) -> list[Fill]:
    """No client order id sent twice; the fills in Redis are exactly the exchange's myTrades;
    the stored cost basis equals a recomputation from those fills. Returns the fills."""
    sent = Counter(a.client_order_id for a in sim.order_requests)
    assert sent and max(sent.values()) == 1, [c for c, n in sent.items() if n > 1]
    fills, cost_json = await stored_fills(redis_url)
    assert sorted(fill_key(f) for f in fills) == exchange_fill_keys(sim)
    stored = CostBasis.from_dict(cost_json)
    again = recompute(fills)
    # The same figures; the average cost and the PnL carry 50 significant digits, whose last
    # ones depend on the order in which fills of equal time were applied: compared at 1e-18.
    assert stored.qty == again.qty, (stored.qty, again.qty)
    assert _near(stored.avg_cost, again.avg_cost), (stored.avg_cost, again.avg_cost)
    assert _near(stored.realized_pnl, again.realized_pnl), (stored.realized_pnl,
                                                            again.realized_pnl)
    assert stored.fills == len(fills) == len({f.trade_id for f in fills})
    return fills


def _near(a: Decimal | None, b: Decimal | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < Decimal("1e-18")


def fill_key(f: Fill) -> FillKey:
    return (f.trade_id, f.side.value, f.price, f.qty, f.fee, f.fee_asset, f.order_id)
