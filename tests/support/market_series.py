"""Helpers for market tests: CSV candles (the shared replay data) and kline push frames."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.domain.models import Candle


def load_csv(path: Path, start: int = 0, end: int | None = None) -> list[Candle]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))[start:end]
    return [
        Candle(int(r["open_time_ms"]), Decimal(r["open"]), Decimal(r["high"]), Decimal(r["low"]),
               Decimal(r["close"]), Decimal(r["volume"]), int(r["close_time_ms"]),
               Decimal(r["quote_volume"]))
        for r in rows
    ]


def push(c: Candle, close: Decimal | None = None, interval: str = "Min5") -> bytes:
    """A kline push frame (protobuf, as MEXC sends it) carrying ``c`` as its window's state."""
    msg = PushDataV3ApiWrapper(channel=f"spot@public.kline.v3.api.pb@QRLUSDT@{interval}",
                               symbol="QRLUSDT", createTime=c.open_time_ms)
    k = msg.publicSpotKline
    k.interval = interval
    k.windowStart, k.windowEnd = c.open_time_ms // 1000, c.close_time_ms // 1000
    k.openingPrice, k.highestPrice, k.lowestPrice = str(c.open), str(c.high), str(c.low)
    k.closingPrice = str(c.close if close is None else close)
    k.volume, k.amount = str(c.volume), str(c.quote_volume)
    return msg.SerializeToString()


def pushes_for(c: Candle, partial: int = 2) -> Iterator[bytes]:
    """``partial`` intermediate pushes (close = open) then the final state."""
    for _ in range(partial):
        yield push(c, close=c.open)
    yield push(c)
