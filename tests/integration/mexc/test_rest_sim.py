"""MexcRest against the real simulator over HTTP: signing, error mapping, retries, limits."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal

import pytest
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials
from daemon.domain.models import OrderReport, OrderStatus, Side
from daemon.errors import (
    AuthError,
    ExchangeUnavailable,
    FatalExchangeError,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    SymbolNotTradable,
    UnknownOrder,
)
from daemon.sim import Simulator
from tests.support.sim_settings import creds_for, settings_for


async def test_market_data_and_rules(msim: Simulator, rest: MexcRest) -> None:
    rules = await rest.exchange_rules("QRLUSDT")
    assert (rules.base_asset, rules.quote_asset) == ("QRL", "USDT")
    assert (rules.base_precision, rules.quote_precision) == (2, 5)
    assert (rules.min_qty, rules.min_notional, rules.taker_fee) == \
           (Decimal("0.01"), Decimal("1"), Decimal("0.0005"))
    rows = await rest.klines("QRLUSDT", "Min5", limit=30)
    assert len(rows) == 30
    assert all(b.open_time_ms - a.open_time_ms == 300_000 for a, b in itertools.pairwise(rows))
    assert all(r.close_time_ms == r.open_time_ms + 300_000 for r in rows)
    price = await rest.ticker_price("QRLUSDT")
    top = await rest.book_top("QRLUSDT")
    assert top.bid_price < top.ask_price and price > 0
    before = msim.server_time_ms()
    server = await rest.server_time_ms()
    assert before <= server <= msim.server_time_ms()  # the simulated clock, /time included


async def test_unknown_symbol_is_not_tradable(rest: MexcRest) -> None:
    with pytest.raises(SymbolNotTradable, match="NOPEUSDT"):
        await rest.exchange_rules("NOPEUSDT")


async def test_order_lifecycle_and_unknown_orders(msim: Simulator, rest: MexcRest) -> None:
    balances = await rest.account()
    assert balances["QRL"].free == Decimal("10000") and balances["USDT"].free == Decimal("500")
    price = (await rest.book_top("QRLUSDT")).bid_price
    low = (price * Decimal("0.5")).quantize(Decimal("0.00001"))
    placed = await rest.place_order("QRLUSDT", Side.BUY, "LIMIT", client_order_id="mkt-t1",
                                    quantity=Decimal("100"), price=low)
    assert placed.status is OrderStatus.NEW and placed.client_order_id == "mkt-t1"
    with pytest.raises(UnknownOrder) as hidden:  # MEXC, right after a create (PROTOCOL.md 9)
        await rest.get_order("QRLUSDT", client_order_id="mkt-t1")
    assert hidden.value.code == -2013
    by_id = await rest.get_order("QRLUSDT", order_id=placed.order_id)
    assert by_id.client_order_id == "mkt-t1" and by_id.orig_qty == Decimal("100")
    got = await _by_client_id(rest, "mkt-t1")
    assert got.order_id == placed.order_id and got.orig_qty == Decimal("100")
    assert [o.order_id for o in await rest.open_orders("QRLUSDT")] == [placed.order_id]
    locked = (await rest.account())["USDT"].locked
    assert locked == Decimal(100) * low
    canceled = await rest.cancel_order("QRLUSDT", order_id=placed.order_id)
    if canceled is None:  # a minimal reply: the state is asked for
        canceled = await rest.get_order("QRLUSDT", order_id=placed.order_id)
    assert canceled.status is OrderStatus.CANCELED and canceled.client_order_id == "mkt-t1"
    with pytest.raises(UnknownOrder) as info:
        await rest.cancel_order("QRLUSDT", order_id=placed.order_id)
    assert info.value.code == -2011
    with pytest.raises(UnknownOrder) as info:
        await rest.get_order("QRLUSDT", client_order_id="never-placed")
    assert info.value.code == -2013
    assert [o.order_id for o in await rest.all_orders("QRLUSDT")] == [placed.order_id]


async def test_fill_shows_in_my_trades(msim: Simulator, rest: MexcRest) -> None:
    report = await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="mkt-t2",
                                    quote_order_qty=Decimal("20"))
    trades = await rest.my_trades("QRLUSDT", order_id=report.order_id)
    assert trades and all(t.side is Side.BUY and t.order_id == report.order_id for t in trades)
    assert sum((t.quote_qty for t in trades), Decimal(0)) <= Decimal("20")
    order = await rest.get_order("QRLUSDT", order_id=report.order_id)
    assert order.status is OrderStatus.FILLED
    assert order.executed_qty == sum((t.qty for t in trades), Decimal(0))


async def test_rejections_are_mapped(rest: MexcRest) -> None:
    with pytest.raises(OrderRejected):
        await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="mkt-t3",
                               quote_order_qty=Decimal("100000"))
    with pytest.raises(ValueError, match="client_order_id 'a b'"):
        await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="a b",
                               quantity=Decimal(1))
    with pytest.raises(ValueError, match="needs a price"):
        await rest.place_order("QRLUSDT", Side.BUY, "LIMIT", client_order_id="x",
                               quantity=Decimal(1))


async def test_bad_secret_is_an_auth_error(msim: Simulator) -> None:
    bad = Credentials(api_key=SecretStr(msim.api_key), api_secret=SecretStr("wrong"))
    async with MexcRest(settings_for(msim).exchange, bad) as client:
        with pytest.raises(AuthError) as info:
            await client.account()
    assert info.value.code == 700002


async def test_no_credentials_named(msim: Simulator) -> None:
    async with MexcRest(settings_for(msim).exchange, None) as client:
        with pytest.raises(AuthError, match="needs API credentials"):
            await client.account()


async def test_clock_skew_is_measured_and_700003_resyncs(msim: Simulator) -> None:
    skew = 30_000  # the local clock runs 30 s ahead of the server
    client = MexcRest(settings_for(msim).exchange, creds_for(msim),
                      wall_ms=lambda: time.time_ns() // 1_000_000 + skew)
    def expected() -> int:  # server (simulated) time minus the skewed local clock
        return msim.server_time_ms() - (time.time_ns() // 1_000_000 + skew)

    tolerance = 0.2 * msim.cfg.speed * 1000  # 0.2 s of real time at the simulator's speed
    low = expected()
    async with client:  # measures the offset
        assert low - tolerance < client.time_offset_ms < expected() + tolerance
        await client.account()
        client.time_offset_ms = 0  # the offset goes stale
        low = expected()
        assert "USDT" in await client.account()  # 700003 -> resync -> resend
        # simulated time runs ahead of the real clock: the offset measured during the call lies
        # between what it was before the call and what it is after it
        assert low - tolerance < client.time_offset_ms < expected() + tolerance


async def test_5xx_retried_for_reads_never_for_orders(msim: Simulator, rest: MexcRest) -> None:
    msim.faults.http_5xx_rate = 1.0
    sent = rest.requests_sent
    with pytest.raises(ExchangeUnavailable):
        await rest.ticker_price("QRLUSDT")
    assert rest.requests_sent - sent == 4  # first try + 3 retries
    attempts = len(msim.order_requests)
    with pytest.raises(OutcomeUnknown):
        await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="mkt-t4",
                               quote_order_qty=Decimal("10"))
    assert len(msim.order_requests) - attempts == 1
    msim.faults.http_5xx_rate = 0.0


async def test_lost_reply_is_outcome_unknown_and_the_order_exists(
        msim: Simulator, rest: MexcRest) -> None:
    msim.faults.lost_reply_rate = 1.0
    with pytest.raises(OutcomeUnknown):
        await rest.place_order("QRLUSDT", Side.BUY, "MARKET", client_order_id="mkt-t5",
                               quote_order_qty=Decimal("10"))
    msim.faults.lost_reply_rate = 0.0
    order = await _by_client_id(rest, "mkt-t5")
    assert order.client_order_id == "mkt-t5"


async def test_429_honours_retry_after(msim: Simulator) -> None:
    client = MexcRest(settings_for(msim).exchange, creds_for(msim), max_retries=0)
    async with client:
        msim.faults.rate_limit_rate = 1.0
        msim.faults.retry_after_s = 1
        with pytest.raises(RateLimited) as info:
            await client.ticker_price("QRLUSDT")
        assert info.value.retry_after_s == 1.0 and info.value.http_status == 429
        msim.faults.rate_limit_rate = 0.0
        t0 = time.monotonic()
        await client.ticker_price("QRLUSDT")
        assert time.monotonic() - t0 >= 0.8  # held until Retry-After passed


async def test_listen_key_calls(msim: Simulator, rest: MexcRest) -> None:
    key = await rest.create_listen_key()
    assert msim.listen_key_valid(key)
    await rest.keepalive_listen_key(key)
    await rest.delete_listen_key(key)
    assert not msim.listen_key_valid(key)
    with pytest.raises(FatalExchangeError):
        await rest.keepalive_listen_key(key)


async def _by_client_id(rest: MexcRest, coid: str, within_s: float = 10.0) -> OrderReport:
    """GET by client id, asked again while MEXC still answers -2013 after the create."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await rest.get_order("QRLUSDT", client_order_id=coid)
        except UnknownOrder:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
