"""Issue 18 (review finding): a pair's books are fenced across processes. A portfolio of several
pairs holds its lease on its process key AND on every pair's own ``bot:<PAIR>:lease`` in one
script; each pair store's fenced writes check the pair's key. So a basket waits while a
single-pair daemon (or another basket) holds one of its pairs, and a basket whose pair key was
taken over cannot write that pair's books. Real Redis throughout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest
import redis.asyncio as aioredis

from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.domain.models import ExchangeRules, Side
from daemon.domain.orders import new_intent
from daemon.errors import LeaseLost
from daemon.runtime.lease import Phase, TradingLease
from daemon.runtime.ledger import Ledger
from daemon.runtime.settings_ref import SettingsRef

SETTINGS = SettingsRef(parse_settings({"redis": {"lease_ttl_s": 30}}))
QRL_RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT",
                          base_precision=2, quote_precision=5, min_qty=D("0.01"),
                          min_notional=D("1"), taker_fee=D("0.0005"))
BASKET_A = "bot:USDT-BTC-QRL:"
BASKET_B = "bot:USDT-BTC-ETH:"


@pytest.fixture
async def opened(redis_url: str) -> AsyncIterator[list[RedisStore]]:
    stores: list[RedisStore] = []
    yield stores
    for s in stores:
        await s.close()


async def pair_store(redis_url: str, opened: list[RedisStore], prefix: str,
                     process: str | None = None) -> RedisStore:
    s = RedisStore(redis_url, prefix, process_prefix=process)
    await s.connect()
    await s.check_schema()
    opened.append(s)
    return s


async def basket(redis_url: str, opened: list[RedisStore], process: str, pairs: list[str],
                 owner: str) -> tuple[list[RedisStore], TradingLease]:
    """A basket's pair stores and its lease, wired as portfolio_compose wires them."""
    stores = [await pair_store(redis_url, opened, f"bot:{p}:", process) for p in pairs]
    lease = TradingLease(stores[0], SETTINGS, owner=owner,
                         pair_lease_keys=[s.books_lease_key for s in stores])
    return stores, lease


async def values(client: aioredis.Redis, *keys: str) -> list[str | None]:
    return [None if v is None else v.decode() for v in [await client.get(k) for k in keys]]


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_basket_waits_while_a_single_pair_daemon_holds_its_pair(
        redis_url: str, opened: list[RedisStore], raw: aioredis.Redis) -> None:
    single_store = await pair_store(redis_url, opened, "bot:QRLUSDT:")
    single = TradingLease(single_store, SETTINGS, owner="h:1:single")
    assert await single.take()
    _, lease = await basket(redis_url, opened, BASKET_A, ["BTCUSDT", "QRLUSDT"], "h:2:a")
    assert not await lease.take()
    assert lease.phase is Phase.STANDBY and not lease.holds and not lease.valid_now()
    # nothing was set: not even the keys that were free
    assert await values(raw, f"{BASKET_A}lease", "bot:BTCUSDT:lease", "bot:QRLUSDT:lease") \
        == [None, None, "h:1:single"]
    await single.release()
    assert await lease.take()
    assert await values(raw, f"{BASKET_A}lease", "bot:BTCUSDT:lease", "bot:QRLUSDT:lease") \
        == ["h:2:a"] * 3
    # and now the single-pair daemon is the one that waits
    single2 = TradingLease(single_store, SETTINGS, owner="h:3:single")
    assert not await single2.take()
    assert single2.phase is Phase.STANDBY


async def test_two_baskets_sharing_btc_the_second_waits(
        redis_url: str, opened: list[RedisStore], raw: aioredis.Redis) -> None:
    _, a = await basket(redis_url, opened, BASKET_A, ["BTCUSDT", "QRLUSDT"], "h:1:a")
    _, b = await basket(redis_url, opened, BASKET_B, ["BTCUSDT", "ETHUSDT"], "h:2:b")
    assert await a.take()
    assert not await b.take()
    assert b.phase is Phase.STANDBY
    assert await values(raw, f"{BASKET_B}lease", "bot:BTCUSDT:lease", "bot:ETHUSDT:lease") \
        == [None, "h:1:a", None]
    await a.renew()
    assert a.phase is Phase.RECOVERING
    await a.release()
    assert await values(raw, f"{BASKET_A}lease", "bot:BTCUSDT:lease", "bot:QRLUSDT:lease") \
        == [None, None, None]
    assert await b.take()
    assert b.holds


async def test_a_basket_write_on_a_pair_taken_over_is_refused_with_lease_lost(
        redis_url: str, opened: list[RedisStore], raw: aioredis.Redis) -> None:
    stores, lease = await basket(redis_url, opened, BASKET_A, ["BTCUSDT", "QRLUSDT"], "h:1:a")
    qrl = stores[1]
    ledger = Ledger(qrl, SETTINGS, QRL_RULES, await qrl.load_state(), lambda: 1_700_000_000_000,
                    lease_owner=lease.owner)
    assert await lease.take()
    await ledger.write_intent(new_intent("rb-abc-0", "QRLUSDT", Side.BUY, "LIMIT", D("30"),
                                         D("3"), 1))
    # QRL's pair key expired and a single-pair QRL daemon took it; the process key is still ours
    await raw.set("bot:QRLUSDT:lease", "h:9:single")
    with pytest.raises(LeaseLost, match="bot:QRLUSDT:lease is held by h:9:single"):
        await ledger.write_intent(new_intent("rb-abc-1", "QRLUSDT", Side.BUY, "LIMIT",
                                             D("30"), D("3"), 2))
    assert await raw.hexists("bot:QRLUSDT:orders", "rb-abc-1") == 0
    assert await raw.hexists("bot:QRLUSDT:orders", "rb-abc-0") == 1
    # the heartbeat's renewal finds it lost too: standby, nothing extended or deleted of theirs
    await lease.renew()
    assert lease.phase is Phase.STANDBY
    await lease.release()
    assert await values(raw, f"{BASKET_A}lease", "bot:BTCUSDT:lease", "bot:QRLUSDT:lease") \
        == [None, None, "h:9:single"]


async def test_the_single_pair_lease_is_one_key(redis_url: str, opened: list[RedisStore],
                                                raw: aioredis.Redis) -> None:
    store = await pair_store(redis_url, opened, "bot:QRLUSDT:")
    lease = RedisLease(store, [store.books_lease_key])
    assert lease.keys == ["bot:QRLUSDT:lease"] == [store.key("lease")]
    assert await lease.acquire("h:1:x", 30)
    assert await lease.blocker("h:2:y") == "h:1:x" and await lease.blocker("h:1:x") is None
    assert sorted(k.decode() for k in await raw.keys("bot:*lease")) == ["bot:QRLUSDT:lease"]
