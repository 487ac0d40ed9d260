"""The kline push decoder on the feed's ingest path: bad frames, a push of another interval, an
unusable final push (the window reports a gap for REST to fill), and the latest price."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
    feed.ingest(frame(0, close="garbage"))
    with pytest.raises(ProtocolError, match="closingPrice: not a price: 'garbage'"):
        _ = feed.last_price


def test_an_unusable_final_push_leaves_the_window_to_rest() -> None:
    feed = new_feed([0])
    feed.ingest(frame(0))
    feed.ingest(frame(1, close="NaN"))  # the final state of window 1 is garbage
    update = feed.ingest(frame(2))
    assert update is not None and update.closed == [] and feed.stats.bad_frames == 1
    assert update.gap == ((START_S + 300) * 1000, (START_S + 600) * 1000)
    assert [c.open_time_ms for c in feed.window.candles] == [START_S * 1000]
