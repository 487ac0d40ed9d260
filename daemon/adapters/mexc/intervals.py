"""MEXC's kline intervals: the one table of websocket names, REST names and lengths
(PROTOCOL.md 2.1.2 and 5).

The websocket names (``Min5``) are also the values of the config key
``exchange.kline_interval``, which ``daemon.config`` validates with :func:`signal_interval`;
so this module imports nothing from the project (the config may import it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KlineInterval:
    ws: str  # websocket channel name, e.g. "Min5"
    rest: str | None  # GET /api/v3/klines name, e.g. "5m"; None: websocket only
    ms: int | None  # fixed length; None: calendar length (months)


_MIN = 60_000
INTERVALS: tuple[KlineInterval, ...] = (
    KlineInterval("Min1", "1m", _MIN),
    KlineInterval("Min5", "5m", 5 * _MIN),
    KlineInterval("Min15", "15m", 15 * _MIN),
    KlineInterval("Min30", "30m", 30 * _MIN),
    KlineInterval("Min60", "60m", 60 * _MIN),
    KlineInterval("Hour4", "4h", 240 * _MIN),
    KlineInterval("Hour8", None, 480 * _MIN),  # no 8h on REST
    KlineInterval("Day1", "1d", 1440 * _MIN),
    KlineInterval("Week1", "1W", 7 * 1440 * _MIN),
    KlineInterval("Month1", "1M", None),
)
_BY_NAME: dict[str, KlineInterval] = {
    **{i.rest: i for i in INTERVALS if i.rest is not None},
    **{i.ws: i for i in INTERVALS},
}


def lookup(interval: str) -> KlineInterval:
    """The interval named ``interval`` in either form ('Min5' or '5m'); ValueError otherwise."""
    try:
        return _BY_NAME[interval]
    except KeyError:
        names = ", ".join(i.ws for i in INTERVALS)
        raise ValueError(f"unknown kline interval {interval!r} (one of {names})") from None


def rest_interval(interval: str) -> str:
    """'Min5' or '5m' -> '5m' (REST form); ValueError naming the interval otherwise."""
    found = lookup(interval)
    if found.rest is None:
        hours = (found.ms or 0) // 3_600_000
        raise ValueError(f"{found.ws} exists on the websocket but MEXC REST klines have no "
                         f"{hours}h interval, so the window cannot be backfilled; use Min60 or "
                         "Hour4")
    return found.rest


def interval_ms(interval: str) -> int:
    """Length of a kline interval (either form) in milliseconds; ValueError for months."""
    found = lookup(interval)
    if found.ms is None:
        raise ValueError(f"{found.ws}: calendar months have no fixed length, so the candle "
                         "window cannot tell a closed window from a gap; use Day1 or Week1")
    return found.ms


def signal_interval(interval: str) -> KlineInterval:
    """The interval if the daemon can run its candle window on it: REST klines must exist (to
    backfill and repair the window) and its length must be fixed (to tell a closed window from
    a gap). ValueError saying why not otherwise."""
    rest_interval(interval)
    interval_ms(interval)
    return lookup(interval)


def ws_interval(interval: str) -> str:
    """'5m' or 'Min5' -> 'Min5' (websocket form)."""
    return lookup(interval).ws


def kline_channel(symbol: str, interval: str) -> str:
    return f"spot@public.kline.v3.api.pb@{symbol.upper()}@{ws_interval(interval)}"


def book_ticker_channel(symbol: str) -> str:
    """The aggregated best bid/ask channel (protobuf; pushed at most every 100 ms)."""
    return f"spot@public.aggre.bookTicker.v3.api.pb@100ms@{symbol.upper()}"
