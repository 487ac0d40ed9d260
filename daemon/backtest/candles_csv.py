"""Candle files: the CSV layout of ../shared/data (MEXC klines rows with a header)

    open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume

read into :class:`daemon.domain.models.Candle` (every number a Decimal from its string), and
written back (``write_candles``, used by ``candles fetch``: a temporary file renamed over the
target, so a file is never half-written).

Every row must have 8 fields, a positive interval (``close_time_ms - open_time_ms``, the same
on every row), ``low <= open, close <= high`` and no negative number; rows must be in strictly
increasing open time. A missing stretch (open time more than one interval after the previous)
is a GAP: counted and reported, never filled in. Errors are InputError naming the file and
line.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from daemon.domain.models import Candle
from daemon.domain.money import fmt
from daemon.errors import InputError

HEADER = ("open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms",
          "quote_volume")


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """The candles of one file (after the --from/--to filter), in time order."""

    path: str
    candles: tuple[Candle, ...]
    interval_ms: int
    gaps: int  # missing candles (windows with no row) between the first and the last
    # up to ``history`` candles just before --from (read_candles): they only fill the window
    history: tuple[Candle, ...] = ()

    @property
    def start_ms(self) -> int:
        return self.candles[0].open_time_ms

    @property
    def end_ms(self) -> int:
        return self.candles[-1].close_time_ms


def parse_when(text: str, flag: str) -> int:
    """An ISO date (``2018-01-12``, midnight) or datetime (``2018-01-12T06:30``, ``...Z``),
    UTC unless it names its offset, as epoch ms. InputError naming ``flag``."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            moment = datetime(d.year, d.month, d.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{flag} {text!r}: not an ISO date (2018-01-12) or datetime "
                         "(2018-01-12T06:30, UTC)") from None
    return int(moment.timestamp() * 1000)


def _number(field: str, name: str, where: str) -> Decimal:
    try:
        value = Decimal(field)
    except InvalidOperation:
        raise InputError(f"{where}: {name} {field!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise InputError(f"{where}: {name} {field!r} must be a finite number >= 0")
    return value


def _integer(field: str, name: str, where: str) -> int:
    try:
        return int(field)
    except ValueError:
        raise InputError(f"{where}: {name} {field!r} is not an integer (epoch ms)") from None


def parse_row(row: Sequence[str], where: str) -> Candle:
    """One data row; InputError naming ``where`` (file:line) and the field."""
    if len(row) != len(HEADER):
        raise InputError(f"{where}: expected {len(HEADER)} fields, got {len(row)}")
    o, h, lo, c, vol = (_number(row[i], HEADER[i], where) for i in range(1, 6))
    candle = Candle(_integer(row[0], HEADER[0], where), o, h, lo, c, vol,
                    _integer(row[6], HEADER[6], where), _number(row[7], HEADER[7], where))
    if candle.close_time_ms <= candle.open_time_ms:
        raise InputError(f"{where}: close_time_ms {candle.close_time_ms} is not after "
                         f"open_time_ms {candle.open_time_ms}")
    if not (lo <= min(o, c) and max(o, c) <= h) or c <= 0:
        raise InputError(f"{where}: prices are not a candle (need 0 < close, low <= open, "
                         f"close <= high; got open {row[1]} high {row[2]} low {row[3]} close "
                         f"{row[4]})")
    return candle


def read_candles(path: str | os.PathLike[str], *, from_ms: int | None = None,
                 to_ms: int | None = None, history: int = 0) -> CandleSeries:
    """The candles of ``path`` opening in [from_ms, to_ms) (either bound optional), and up to
    ``history`` candles just before ``from_ms`` apart (``CandleSeries.history``)."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise InputError(f"--candles {p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--candles {p}: cannot read: {exc}") from None
    if not rows or tuple(rows[0]) != HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise InputError(f"{p}:1: expected the header {','.join(HEADER)}; got {got}")
    candles: list[Candle] = []
    before: deque[Candle] = deque(maxlen=history)
    interval = 0
    gaps = 0
    previous: Candle | None = None
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue  # a blank line (e.g. at the end)
        where = f"{p}:{n}"
        candle = parse_row(row, where)
        size = candle.close_time_ms - candle.open_time_ms
        if previous is None:
            interval = size
        elif size != interval:
            raise InputError(f"{where}: interval {size} ms differs from the file's {interval} ms")
        elif candle.open_time_ms <= previous.open_time_ms:
            what = "duplicate" if candle.open_time_ms == previous.open_time_ms else "out of order"
            raise InputError(f"{where}: open_time_ms {candle.open_time_ms} is {what} (the row "
                             f"before opens at {previous.open_time_ms})")
        elif (candle.open_time_ms - previous.open_time_ms) % interval:
            raise InputError(f"{where}: open_time_ms {candle.open_time_ms} is not on the "
                             f"{interval} ms grid of the rows before")
        previous = candle
        if (from_ms is None or candle.open_time_ms >= from_ms) and (
                to_ms is None or candle.open_time_ms < to_ms):
            if candles:
                gaps += (candle.open_time_ms - candles[-1].open_time_ms) // interval - 1
            candles.append(candle)
        elif from_ms is not None and candle.open_time_ms < from_ms and history:
            before.append(candle)
    if not candles:
        raise InputError(f"{p}: no candles{_range_text(from_ms, to_ms)}")
    return CandleSeries(str(p), tuple(candles), interval, gaps, tuple(before))


def _range_text(from_ms: int | None, to_ms: int | None) -> str:
    if from_ms is None and to_ms is None:
        return ""

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    lo = "the start" if from_ms is None else iso(from_ms)
    hi = "the end" if to_ms is None else iso(to_ms)
    return f" between {lo} and {hi} (--from/--to)"


def rescaled(candles: Iterable[Candle], factor: Decimal) -> tuple[Candle, ...]:
    """Prices and quote volume multiplied by ``factor`` (exact; the caller floors what it
    must)."""
    return tuple(Candle(c.open_time_ms, c.open * factor, c.high * factor, c.low * factor,
                        c.close * factor, c.volume, c.close_time_ms, c.quote_volume * factor)
                 for c in candles)


def write_candles(path: str | os.PathLike[str], candles: Iterable[Candle]) -> int:
    """Write ``candles`` in the layout above: to a temporary file beside ``path``, renamed over
    it once complete. Returns the number of rows written."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    count = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(HEADER)
            for c in candles:
                out.writerow((c.open_time_ms, fmt(c.open), fmt(c.high), fmt(c.low),
                              fmt(c.close), fmt(c.volume), c.close_time_ms,
                              fmt(c.quote_volume)))
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
