"""Kline push frames (protobuf ``publicSpotKline``) -> window moves: the one forming-candle path
(PROTOCOL.md 5 and 6).

MEXC pushes the forming kline about once a second and never says that a window closed: a push
with a later ``windowStart`` means the window tracked until then is final. The hot path: a push
of the window already tracked is only remembered (no Decimal, no model object); the candle is
built once per window, from that window's last push, when a push of a later window arrives.

The market stream also carries the best bid/ask (``publicAggreBookTicker``): each such push is
checked (prices above 0, bid below ask) and kept as the latest book top with its time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal
from typing import Generic, TypeVar

from loguru import logger

from daemon.adapters.mexc.parsing import dec
from daemon.adapters.mexc.proto.mexc_push_pb2 import (
    PublicAggreBookTickerV3Api,
    PublicSpotKlineV3Api,
    PushDataV3ApiWrapper,
)
from daemon.domain.models import BookTop, Candle
from daemon.domain.money import ZERO
from daemon.errors import ProtocolError

T = TypeVar("T")

_KLINE = "publicSpotKline"
_BOOK = "publicAggreBookTicker"
_FIELDS = ("openingPrice", "highestPrice", "lowestPrice", "closingPrice", "volume", "amount")
_from_string = PushDataV3ApiWrapper.FromString


_CANDLE_FIELDS = tuple(f.name for f in fields(Candle))
(_set_open_ms, _set_open, _set_high, _set_low, _set_close, _set_volume, _set_close_ms,
 _set_quote) = (getattr(Candle, name).__set__ for name in _CANDLE_FIELDS)
_new_object = object.__new__
if _CANDLE_FIELDS != ("open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms",
                      "quote_volume") or hasattr(Candle, "__post_init__"):  # pragma: no cover
    raise ImportError(f"kline_push._candle: the Candle model changed (fields {_CANDLE_FIELDS}, "
                      f"or a __post_init__ that _candle would skip): update _candle")


def _candle(open_ms: int, o: Decimal, h: Decimal, lo: Decimal, c: Decimal, vol: Decimal,
            close_ms: int, amount: Decimal) -> Candle:
    """``Candle(...)`` of checked values, built once per window on the push path: the frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__`` (about twice the
    cost); the slots are filled directly, the object is the same."""
    candle = _new_object(Candle)
    _set_open_ms(candle, open_ms)
    _set_open(candle, o)
    _set_high(candle, h)
    _set_low(candle, lo)
    _set_close(candle, c)
    _set_volume(candle, vol)
    _set_close_ms(candle, close_ms)
    _set_quote(candle, amount)
    return candle


def kline_candle(k: PublicSpotKlineV3Api) -> Candle:
    """The candle state a kline push carries (plain Decimal() with one try; on failure the
    slow path names the bad field). A price not above 0 or a negative volume is a
    ProtocolError too (the window then reports a gap for REST to fill)."""
    start, end = k.windowStart, k.windowEnd
    try:
        o, h, lo, c = (Decimal(k.openingPrice), Decimal(k.highestPrice),
                       Decimal(k.lowestPrice), Decimal(k.closingPrice))
        vol = Decimal(k.volume or 0)
        amount = Decimal(k.amount or 0)
        ok = (o + h + lo + c + vol + amount).is_finite() and end > start
    except ArithmeticError:
        ok = False
    if not ok:
        for name in _FIELDS:
            dec(getattr(k, name), f"publicSpotKline.{name}",
                default=ZERO if name in ("volume", "amount") else None)
        raise ProtocolError(f"publicSpotKline.windowEnd: {end} is not after windowStart "
                            f"{start}")
    if not (o > 0 and h > 0 and lo > 0 and c > 0 and vol >= 0 and amount >= 0):
        raise ProtocolError(f"publicSpotKline: not a candle: open {o} high {h} low {lo} "
                            f"close {c} volume {vol} amount {amount}")
    return _candle(start * 1000, o, h, lo, c, vol, end * 1000, amount)


def book_top(b: PublicAggreBookTickerV3Api) -> BookTop:
    """The best bid/ask a book-ticker push carries; ProtocolError naming the field for a price
    not above 0, a negative quantity, or a bid not below the ask."""
    top = BookTop(
        bid_price=dec(b.bidPrice, "publicAggreBookTicker.bidPrice"),
        bid_qty=dec(b.bidQuantity or "0", "publicAggreBookTicker.bidQuantity"),
        ask_price=dec(b.askPrice, "publicAggreBookTicker.askPrice"),
        ask_qty=dec(b.askQuantity or "0", "publicAggreBookTicker.askQuantity"))
    if not (top.bid_price > 0 and top.ask_price > 0 and top.bid_qty >= 0
            and top.ask_qty >= 0):
        raise ProtocolError(f"publicAggreBookTicker: not a book top: {top}")
    if top.bid_price >= top.ask_price:
        raise ProtocolError(f"publicAggreBookTicker: bid {top.bid_price} >= ask "
                            f"{top.ask_price} (a crossed book)")
    return top


WindowStart = Callable[[int, Candle | None, ProtocolError | None], T]


class KlinePushes(Generic[T]):
    """Decodes the kline pushes of one subscription. ``push(frame)`` returns None for a push of
    the tracked window (or of another body); when the stream moves to a later window it returns
    what ``on_window(start_ms, previous, error)`` returns: ``previous`` is the final state of
    the window tracked until then (None when none was tracked, or when its final push was
    unusable: ``error`` says why); for a late push of an older window, what ``on_late()``
    returns. ``clock_ns`` stamps the latest price."""

    __slots__ = ("_bad_streak", "_clock_ns", "_good", "_hot", "_hot_start", "_on_late",
                 "_on_window", "_price", "bad_prices", "book", "book_ns", "interval",
                 "last_window_ms", "price_ns")

    def __init__(self, interval: str, on_window: WindowStart[T], on_late: Callable[[], T],
                 clock_ns: Callable[[], int]) -> None:
        self.interval = interval
        self._on_window = on_window
        self._on_late = on_late
        self._clock_ns = clock_ns
        self._hot: PublicSpotKlineV3Api | None = None  # latest push of the tracked window
        self._hot_start: int | None = None  # its windowStart (s)
        self._price: Decimal | PublicSpotKlineV3Api | None = None
        self.price_ns: int | None = None  # wall clock of the latest kline push
        self._good: tuple[Decimal | None, int | None] = (None, None)  # last price read, its ns
        self.bad_prices = 0  # pushes whose close was not a price (skipped when read)
        self._bad_streak = False
        self.last_window_ms: int | None = None  # the newest window pushed (never reset)
        self.book: BookTop | None = None  # the latest book-ticker push, checked
        self.book_ns: int | None = None  # its wall clock

    def push(self, frame: bytes) -> T | None:
        """Decode one frame (ProtocolError when it is not a push wrapper, or a kline of
        another interval)."""
        try:
            msg = _from_string(frame)
        except Exception as exc:  # protobuf's DecodeError
            raise ProtocolError(f"push frame: not a PushDataV3ApiWrapper ({exc})") from None
        # The hot path (about 299 pushes in 300): a later push of the tracked window. A frame
        # of another body reads as an empty kline (windowStart 0), and a tracked window is
        # never 0 here, so one submessage read tells it apart without HasField.
        k = msg.publicSpotKline
        start = k.windowStart
        if start == self._hot_start and start:
            self._hot = self._price = k  # its closingPrice is parsed when last_price is read
            self.price_ns = self._clock_ns()
            return None
        return self._other(msg, k, start)

    def _other(self, msg: PushDataV3ApiWrapper, k: PublicSpotKlineV3Api, start: int) -> T | None:
        """A push that is not a later one of the tracked window: a book ticker, another body,
        the first push of a window, a late push."""
        if not msg.HasField(_KLINE):
            if msg.HasField(_BOOK):
                self.book = book_top(msg.publicAggreBookTicker)
                self.book_ns = self._clock_ns()
            return None
        self._price = k  # its closingPrice is parsed when last_price is read
        self.price_ns = self._clock_ns()
        if start == self._hot_start:  # windowStart 0, tracked
            self._hot = k
            return None
        # once per window from here on
        if k.interval != self.interval:
            raise ProtocolError(f"publicSpotKline.interval: got {k.interval!r}, "
                                f"subscribed {self.interval!r}")
        if self._hot_start is not None and start < self._hot_start:
            return self._on_late()
        previous: Candle | None = None
        error: ProtocolError | None = None
        if self._hot is not None:
            try:
                previous = kline_candle(self._hot)
            except ProtocolError as exc:
                error = exc
        self._hot, self._hot_start = k, start
        self.last_window_ms = max(self.last_window_ms or 0, start * 1000)
        return self._on_window(start * 1000, previous, error)

    def interrupted(self) -> None:
        """The connection dropped: the tracked window may miss its last push, so it is not
        closed from the stream (REST repairs it)."""
        self._hot = self._hot_start = None

    @property
    def last_price(self) -> Decimal | None:
        """The close of the latest kline push (None before the first). A close that is not a
        price (``-1``, garbage) is skipped: the last good price and ITS time stay (so the
        staleness check sees how old it is), the push is counted and said once per streak;
        it never raises to the reader (the heartbeat, every evaluation, the checkpoint)."""
        held = self._price
        if held is None or isinstance(held, Decimal):
            return held
        raw = held.closingPrice
        try:
            value: Decimal | None = Decimal(raw)
        except ArithmeticError:
            value = None
        if value is None or not value.is_finite() or value <= 0:
            self.bad_prices += 1
            if not self._bad_streak:  # the first of a streak is said, the rest counted
                logger.warning("publicSpotKline.closingPrice: not a price: {!r} (push "
                               "skipped, the last good price kept)", raw)
            self._bad_streak = True
            good, self.price_ns = self._good
            self._price = good
            return good
        self._price, self._bad_streak = value, False
        self._good = (value, self.price_ns)
        return value
