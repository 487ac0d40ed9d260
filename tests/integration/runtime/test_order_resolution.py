"""Order resolution (daemon.runtime.resolution) against the real simulator and a real Redis:
found; "does not exist" N times -> LOST; -2013 for a while after a create, then found; failed
queries never count as misses; and an unreadable reply to an order or cancel is OutcomeUnknown,
resolved by client order id (never sent twice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import cast

import pytest

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, Settings, parse_settings
from daemon.domain.models import OrderStatus, Side
from daemon.domain.orders import Order, OrderState, OrderSubmitted, new_intent
from daemon.domain.planner import Figures, Plan
from daemon.domain.pricing import PriceReference
from daemon.errors import ExchangeUnavailable, OutcomeUnknown, ProtocolError
from daemon.runtime.executor import Executor
from daemon.runtime.lease import TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.recovery import reconcile_with_venue
from daemon.runtime.resolution import Found, NoAnswer, NotFound, Patience, resolve
from daemon.runtime.settings_ref import SettingsRef
from daemon.sim import Realism, SimConfig, Simulator

RETRIES = 3
NOW = 1_700_000_000_000


@dataclass
class World:
    sim: Simulator
    rest: MexcRest
    settings: Settings
    ledger: Ledger
    executor: Executor

    @property
    def symbol(self) -> str:
        return self.settings.symbol

    async def intent(self, coid: str, *, sent: bool = True) -> Order:
        """An order of ours written ahead (and marked sent), as before a POST /order."""
        order = new_intent(coid, self.symbol, Side.BUY, "LIMIT", Decimal("100"),
                           await self.low_price(), NOW)
        await self.ledger.write_intent(order)
        if sent:
            await self.ledger.apply_to_known(coid, OrderSubmitted(NOW + 1))
        return self.ledger.orders[coid]

    async def low_price(self) -> Decimal:
        bid = (await self.rest.book_top(self.symbol)).bid_price
        return (bid * Decimal("0.5")).quantize(Decimal("0.00001"))

    async def place_resting(self, coid: str) -> None:
        """The order exists at the exchange (a BUY far below the market: it rests)."""
        await self.rest.place_order(self.symbol, Side.BUY, "LIMIT", client_order_id=coid,
                                    quantity=Decimal("100"), price=await self.low_price())


@asynccontextmanager
async def make_world(redis_url: str, realism: Realism, *, grace_s: float = 0,
                     now_ms: int = NOW) -> AsyncIterator[World]:
    async with Simulator(SimConfig(seed=11, speed=60.0, realism=realism), port=0) as sim:
        settings = parse_settings({
            "symbol": sim.cfg.symbol,
            "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                         "request_timeout_ms": 2000},
            "execution": {"unknown_order_retries": RETRIES, "poll_max_interval_s": 0.05,
                          "order_timeout_s": 2, "not_found_grace_s": grace_s},
            "redis": {"url": redis_url}})
        creds = Credentials.model_validate({"api_key": sim.api_key,
                                            "api_secret": sim.api_secret})
        rest = MexcRest(settings.exchange, creds, max_retries=0, backoff_first_s=0.001,
                        backoff_max_s=0.002)
        store = RedisStore.from_settings(settings)
        await rest.start()
        await store.connect()
        try:
            await store.check_schema()
            rules = await rest.exchange_rules(settings.symbol)
            ref = SettingsRef(settings)
            lease = TradingLease(store, ref)
            assert await lease.take()  # the follower acts only while it holds the lease
            ledger = Ledger(store, ref, rules, await store.load_state(), lambda: now_ms,
                            lease_owner=lease.owner)
            ledger.update_balances(await rest.account())
            executor = Executor(ref, rest, ledger, lambda: now_ms, lease)
            yield World(sim, rest, settings, ledger, executor)
        finally:
            await store.close()
            await rest.close()


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    # The -2013 counts are set per test through the simulator's fault; its realistic -2013
    # window after a create (and the daemon's grace for it) are tested on their own below.
    async with make_world(redis_url, replace(Realism(), not_found_after_create_s=0.0)) as w:
        yield w


async def test_found(world: World) -> None:
    await world.place_resting("rs-found")
    result = await resolve(world.rest, world.symbol, "rs-found",
                           Patience.after_submit(world.settings.execution))
    assert isinstance(result, Found)
    assert result.report.client_order_id == "rs-found"
    assert result.report.status is OrderStatus.NEW


async def test_not_found_n_times_is_lost(world: World) -> None:
    await world.intent("rs-never")  # written and "sent", but the request never arrived
    before = world.rest.requests_sent
    await world.executor.resolve_unknown("rs-never")
    order = world.ledger.orders["rs-never"]
    assert order.status is OrderState.LOST
    assert order.not_found_count == RETRIES
    assert world.rest.requests_sent - before == RETRIES  # no query after the conclusion
    stored = await world.ledger.store.get_order("rs-never")
    assert stored is not None and stored.status is OrderState.LOST


async def test_unknown_for_a_while_after_the_create_then_found(world: World) -> None:
    await world.intent("rs-late")
    await world.place_resting("rs-late")
    world.sim.faults.unknown_order_queries = RETRIES - 1  # -2013 to the first two queries
    await world.executor.resolve_unknown("rs-late")
    order = world.ledger.orders["rs-late"]
    assert order.status is OrderState.NEW and order.order_id is not None
    assert order.not_found_count == 0  # the exchange confirmed it: misses no longer matter
    assert world.sim.order_queries[order.order_id] == RETRIES


async def test_unknown_for_as_long_as_the_patience_is_lost(world: World) -> None:
    await world.intent("rs-slow")
    await world.place_resting("rs-slow")
    world.sim.faults.unknown_order_queries = RETRIES
    result = await resolve(world.rest, world.symbol, "rs-slow",
                           Patience.after_submit(world.settings.execution))
    assert result == NotFound(RETRIES)


async def test_failed_queries_are_no_answer_not_misses(world: World) -> None:
    await world.intent("rs-down")
    world.sim.faults.http_5xx_rate = 1.0
    result = await resolve(world.rest, world.symbol, "rs-down",
                           Patience.after_submit(world.settings.execution))
    assert isinstance(result, NoAnswer) and isinstance(result.error, ExchangeUnavailable)
    await world.executor.resolve_unknown("rs-down")
    order = world.ledger.orders["rs-down"]
    assert order.status is OrderState.SENT and order.not_found_count == 0


async def test_misses_between_failures_count_only_themselves(world: World) -> None:
    await world.intent("rs-flaky")
    world.sim.faults.http_5xx_rate = 0.5
    sent = world.rest.requests_sent
    misses: list[int] = []

    async def on_miss() -> None:
        misses.append(1)

    result = await resolve(world.rest, world.symbol, "rs-flaky",
                           Patience.after_submit(world.settings.execution), on_miss=on_miss)
    queries = world.rest.requests_sent - sent
    assert result == NotFound(RETRIES) and len(misses) == RETRIES
    assert queries > RETRIES  # some queries failed, and were not counted


async def test_startup_reconciliation_waits_out_the_2013(world: World) -> None:
    """Crash after the POST reached the exchange: at startup the exchange still says -2013
    for a moment, then reports the order; it is not declared LOST."""
    await world.intent("rs-crash")
    await world.place_resting("rs-crash")
    world.sim.faults.unknown_order_queries = RETRIES - 1
    still_open = await reconcile_with_venue(world.rest, world.ledger, world.settings, NOW)
    assert [o.client_order_id for o in still_open] == ["rs-crash"]
    assert world.ledger.orders["rs-crash"].status is OrderState.NEW


async def test_unreadable_order_reply_is_outcome_unknown(world: World) -> None:
    world.sim.faults.garbled_reply_rate = 1.0
    with pytest.raises(OutcomeUnknown) as info:
        await world.place_resting("rs-garbled")
    assert isinstance(info.value.__cause__, ProtocolError)
    assert world.sim.order_requests[-1].outcome.startswith("garbled:")
    with pytest.raises(OutcomeUnknown) as info:
        await world.rest.cancel_order(world.symbol, client_order_id="rs-garbled")
    assert isinstance(info.value.__cause__, ProtocolError)
    world.sim.faults.garbled_reply_rate = 0.0
    canceled = await world.rest.get_order(world.symbol, client_order_id="rs-garbled")
    assert canceled.status is OrderStatus.CANCELED  # both requests took effect


async def test_executor_resolves_an_unreadable_submit_reply(world: World) -> None:
    world.sim.faults.garbled_reply_rate = 1.0
    qty = Decimal(200)  # about 10 USDT at the simulator's 0.05
    plan = Plan(action="BUY", side=Side.BUY, quantity=qty, price=None,
                notional=Decimal("0"), reason_code="test", reason="test",
                figures=cast(Figures, None))
    market = PriceReference((await world.rest.book_top(world.symbol)).bid_price)
    order = await world.executor.execute(plan, "cyc1", world.ledger.rules, market)
    assert order is not None
    assert [a.outcome.split(":")[0] for a in world.sim.order_requests] == ["garbled"]
    assert order.order_id is not None  # found by client order id, not booked as rejected
    assert order.status is OrderState.FILLED and order.filled_qty > 0


async def test_an_order_hidden_by_2013_after_its_create_is_not_lost_within_the_grace() -> None:
    """MEXC answers -2013 to a query by client id for a few seconds after a create. Counting
    misses alone concludes "never placed" about an order that rests on the book (and the next
    decision would send another one); with the grace the same order is found."""
    async with Simulator(SimConfig(seed=12, speed=60.0), port=0) as sim:
        ex = parse_settings({"execution": {"unknown_order_retries": RETRIES,
                                           "poll_max_interval_s": 0.05,
                                           "not_found_grace_s": 6}}).execution
        creds = Credentials.model_validate({"api_key": sim.api_key,
                                            "api_secret": sim.api_secret})
        settings = parse_settings({"exchange": {"rest_url": sim.rest_url,
                                                "ws_url": sim.ws_url}})
        async with MexcRest(settings.exchange, creds) as rest:
            bid = (await rest.book_top("QRLUSDT")).bid_price
            low = (bid * Decimal("0.5")).quantize(Decimal("0.00001"))
            for coid in ("rs-hidden-1", "rs-hidden-2"):
                await rest.place_order("QRLUSDT", Side.BUY, "LIMIT", client_order_id=coid,
                                       quantity=Decimal("100"), price=low)
            assert sim.last_hidden_s >= 0.5  # the window is on (realistic default)
            no_grace = replace(Patience.after_submit(ex), grace_s=0.0)
            misses_only = await resolve(rest, "QRLUSDT", "rs-hidden-1", no_grace)
            with_grace = await resolve(rest, "QRLUSDT", "rs-hidden-2", Patience.after_submit(ex))
    assert misses_only == NotFound(RETRIES)  # what counting misses alone concluded: wrong
    assert isinstance(with_grace, Found) and with_grace.report.client_order_id == "rs-hidden-2"



async def test_the_grace_counts_from_when_the_outcome_became_unknown(redis_url: str) -> None:
    """The intent was written a minute ago and its POST timed out just now: the create may have
    landed at the very end of the request, so MEXC's -2013 window starts now. An order resting
    on the book is found, never concluded LOST (and sent again)."""
    async with make_world(redis_url, Realism(), grace_s=6, now_ms=NOW + 60_000) as world:
        intent = await world.intent("rs-timed-out")  # written at NOW, a minute before "now"
        await world.place_resting("rs-timed-out")  # the create landed after all
        assert world.sim.last_hidden_s >= 0.5
        # followed as after a submit whose outcome is unknown: resolved, then cancelled at the
        # order timeout (it rests far below the market)
        final = await world.executor.follow_existing(intent)
    assert final.order_id is not None and final.status is OrderState.CANCELED  # never LOST
