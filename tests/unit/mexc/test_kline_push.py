"""The kline push decoder on the feed's ingest path: bad frames, a push of another interval, an
unusable final push (the window reports a gap for REST to fill), and the latest price."""

from __future__ import annotations

from decimal import Decimal

import pytest
from loguru import logger

from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExchangeSettings, Settings
from daemon.errors import ProtocolError
from daemon.runtime.market_feed import MarketFeed

START_S = 1_700_000_100  # a 5-minute boundary


def frame(window: int, close: str = "0.05", interval: str = "Min5") -> bytes:
    msg = PushDataV3ApiWrapper(channel="spot@public.kline.v3.api.pb@QRLUSDT@Min5",
                               symbol="QRLUSDT", createTime=1)
    k = msg.publicSpotKline
    k.interval = interval
    k.windowStart = START_S + 300 * window
    k.windowEnd = k.windowStart + 300
    k.openingPrice = k.highestPrice = k.lowestPrice = "0.05"
    k.closingPrice, k.volume, k.amount = close, "10", "0.5"
    return msg.SerializeToString()


def new_feed(now_ms: list[int]) -> MarketFeed:
    settings = Settings(exchange=ExchangeSettings(kline_interval="Min5"))
    return MarketFeed(settings, MexcRest(settings.exchange, None), wall_ms=lambda: now_ms[0])


def test_pushes_close_windows_and_give_the_price() -> None:
    now = [1000]
    feed = new_feed(now)
    assert feed.last_price is None and feed.last_price_ms is None
    first = feed.ingest(frame(0, "0.049"))
    assert first is not None and first.closed == [] and first.gap is None
    now[0] = 2000
    assert feed.ingest(frame(0, "0.051")) is None  # the forming window: only remembered
    assert (feed.last_price, feed.last_price_ms) == (Decimal("0.051"), 2000)
    update = feed.ingest(frame(1, "0.06"))
    assert update is not None and [c.candle.close for c in update.closed] == [Decimal("0.051")]
    assert update.closed[0].candle.open_time_ms == START_S * 1000
    assert feed.ingest(PushDataV3ApiWrapper(channel="x").SerializeToString()) is None


def test_bad_frames_are_protocol_errors() -> None:
    feed = new_feed([0])
    with pytest.raises(ProtocolError, match="not a PushDataV3ApiWrapper"):
        feed.ingest(b"\xff\xff\xff")
    with pytest.raises(ProtocolError, match=r"publicSpotKline\.interval: got 'Min1'"):
        feed.ingest(frame(0, interval="Min1"))


def test_a_close_that_is_not_a_price_keeps_the_last_good_price_and_its_time() -> None:
    """From the hostile campaign: a forming kline pushed with closingPrice -1 was kept and
    every read of the price raised (each heartbeat tick, each evaluation, the checkpoint at
    stop: exit 1). It is skipped when read: the last good price stays with ITS time (the
    staleness check sees its age), counted, said once per streak."""
    now = [1000]
    feed = new_feed(now)
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="WARNING")
    try:
        feed.ingest(frame(0, "0.049"))
        assert (feed.last_price, feed.last_price_ms) == (Decimal("0.049"), 1000)
        for t, bad in ((2000, "-1"), (3000, "garbage")):
            now[0] = t
            feed.ingest(frame(0, bad))
            assert (feed.last_price, feed.last_price_ms) == (Decimal("0.049"), 1000)
        now[0] = 4000
        feed.ingest(frame(0, "0.05"))
        assert (feed.last_price, feed.last_price_ms) == (Decimal("0.05"), 4000)
    finally:
        logger.remove(sink)
    assert feed._klines.bad_prices == 2
    assert [m for m in said if "not a price" in m] == [
        "publicSpotKline.closingPrice: not a price: '-1' (push skipped, the last good price "
        "kept)"]


def test_an_unusable_final_push_leaves_the_window_to_rest() -> None:
    feed = new_feed([0])
    feed.ingest(frame(0))
    feed.ingest(frame(1, close="NaN"))  # the final state of window 1 is garbage
    update = feed.ingest(frame(2))
    assert update is not None and update.closed == [] and feed.stats.bad_frames == 1
    assert update.gap == ((START_S + 300) * 1000, (START_S + 600) * 1000)
    assert [c.open_time_ms for c in feed.window.candles] == [START_S * 1000]
