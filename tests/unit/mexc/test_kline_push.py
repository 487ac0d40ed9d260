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


def book_frame(bid: str = "0.049", ask: str = "0.051") -> bytes:
    msg = PushDataV3ApiWrapper(channel="spot@public.aggre.bookTicker.v3.api.pb@100ms@QRLUSDT",
                               symbol="QRLUSDT", createTime=1)
    b = msg.publicAggreBookTicker
    b.bidPrice, b.bidQuantity, b.askPrice, b.askQuantity = bid, "5", ask, "7"
    return msg.SerializeToString()


def kline_at(window_start_s: int, close: str) -> bytes:
    msg = PushDataV3ApiWrapper.FromString(frame(0, close))
    msg.publicSpotKline.windowStart = window_start_s
    msg.publicSpotKline.windowEnd = window_start_s + 300
    return msg.SerializeToString()


def test_a_book_push_between_pushes_of_a_window_is_no_kline() -> None:
    """The hot path tells a later push of the tracked window by its windowStart alone (a frame
    of another body reads as windowStart 0): a book push in between, even while the tracked
    window is 0, is a book top and leaves the price and the forming candle alone."""
    for start_s in (START_S, 0):
        now = [1000]
        feed = new_feed(now)
        assert feed.ingest(kline_at(start_s, "0.049")) is not None
        now[0] = 2000
        assert feed.ingest(book_frame()) is None
        book, book_ms = feed.book
        assert book is not None and (book.bid_price, book.ask_price, book_ms) == \
               (Decimal("0.049"), Decimal("0.051"), 2000)
        assert (feed.last_price, feed.last_price_ms) == (Decimal("0.049"), 1000)
        update = feed.ingest(kline_at(start_s + 300, "0.06"))
        assert update is not None
        assert [(c.candle.open_time_ms, c.candle.close) for c in update.closed] == \
               [(start_s * 1000, Decimal("0.049"))]


def test_the_pushed_candle_is_the_model_candle() -> None:
    """``kline_push._candle`` fills the frozen dataclass's slots directly: the object equals,
    hashes and stays frozen like one built by ``Candle(...)``."""
    import dataclasses

    from daemon.adapters.mexc.kline_push import kline_candle
    from daemon.domain.models import Candle

    k = PushDataV3ApiWrapper.FromString(frame(0, "0.051")).publicSpotKline
    got = kline_candle(k)
    want = Candle(START_S * 1000, Decimal("0.05"), Decimal("0.05"), Decimal("0.05"),
                  Decimal("0.051"), Decimal("10"), (START_S + 300) * 1000, Decimal("0.5"))
    assert type(got) is Candle and got == want and hash(got) == hash(want)
    assert dataclasses.astuple(got) == dataclasses.astuple(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.close = Decimal(1)  # type: ignore[misc]


def _walk_frames(candles: int, pushes: int) -> tuple[list[bytes], list[Decimal]]:
    """``pushes`` frames per window of a zigzag that crosses the averages several times; the
    final close of each window."""
    frames, closes = [], []
    for i in range(candles):
        close = Decimal("0.05") + Decimal("0.0001") * ((i // 9) % 2 * 2 - 1) * (i % 9)
        closes.append(close)
        for p in range(pushes):
            frames.append(kline_at(START_S + 300 * i, str(close if p == pushes - 1
                                                          else close + p)))
    return frames, closes


@pytest.mark.parametrize("listeners", [False, True])
async def test_pushes_through_the_push_handler_report_what_the_offline_series_says(
        listeners: bool) -> None:
    """The on-push path counts, logs and reports each closed candle and each crossover, with
    the listeners (called in order) or without (counted only)."""
    from daemon.domain.candles import ClosedCandle, CrossoverEvent, offline_series
    from daemon.domain.models import Candle

    settings = Settings(exchange=ExchangeSettings(kline_interval="Min5"))
    seen: list[ClosedCandle] = []
    events: list[CrossoverEvent] = []
    feed: MarketFeed

    async def on_candle(c: ClosedCandle) -> None:
        seen.append(c)

    async def on_crossover(e: CrossoverEvent) -> None:
        assert feed._lock.locked()  # a repair cannot report between the candles
        events.append(e)

    feed = MarketFeed(settings, MexcRest(settings.exchange, None), wall_ms=lambda: 0,
                      on_candle=on_candle if listeners else None,
                      on_crossover=on_crossover if listeners else None)
    frames, closes = _walk_frames(60, 3)
    for f in frames:
        await feed._on_push(f)
    ref = offline_series([Candle((START_S + 300 * i) * 1000, Decimal("0.05"), Decimal("0.05"),
                                 Decimal("0.05"), c, Decimal(10), (START_S + 300 * i + 300)
                                 * 1000, Decimal("0.5")) for i, c in enumerate(closes[:-1])],
                         7, 25)
    offline_events = [r.crossover for r in ref if r.crossover is not None]
    assert len(offline_events) >= 3
    assert feed.stats.closed_from_stream == 59 and feed.stats.events == len(offline_events)
    assert (feed.window.ma_short, feed.window.ma_long) == (ref[-1].ma_short, ref[-1].ma_long)
    if listeners:
        assert seen == ref and events == offline_events
    else:
        assert seen == [] and events == []
