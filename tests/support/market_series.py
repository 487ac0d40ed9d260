"""Helpers for market tests: CSV candles (the shared replay data) and synthetic ticks."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from daemon.domain.models import Candle, KlineTick


def load_csv(path: Path, start: int = 0, end: int | None = None) -> list[Candle]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))[start:end]
    return [
        Candle(int(r["open_time_ms"]), Decimal(r["open"]), Decimal(r["high"]), Decimal(r["low"]),
               Decimal(r["close"]), Decimal(r["volume"]), int(r["close_time_ms"]),
               Decimal(r["quote_volume"]))
        for r in rows
    ]


def tick(c: Candle, close: Decimal | None = None, interval: str = "Min5") -> KlineTick:
    return KlineTick(interval, c.open_time_ms // 1000, c.close_time_ms // 1000, c.open, c.high,
                     c.low, c.close if close is None else close, c.volume, c.quote_volume)


def ticks_for(c: Candle, partial: int = 2) -> Iterator[KlineTick]:
    """``partial`` intermediate pushes (close = open) then the final state."""
    for _ in range(partial):
        yield tick(c, close=c.open)
    yield tick(c)
