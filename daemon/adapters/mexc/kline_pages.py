"""Reading a range of klines from REST the way the real MEXC needs it (PROTOCOL.md section 9).

The real exchange answers at most 500 rows whatever ``limit`` says, ignores ``startTime`` when
no ``endTime`` is given (it returns the NEWEST candles instead) and treats ``endTime`` as
exclusive. So a range is read in windows ``[start, start + 500 candles)`` that always carry both
``startTime`` and ``endTime``, and every window's answer is checked against what was asked:

- a row outside the window, off the interval's grid, or out of order makes the answer WRONG
  (e.g. the newest candles instead of the ones asked for): the window is asked again, and if it
  stays wrong its rows are dropped and the whole window is reported as a gap;
- a candle missing inside the window (before the last row, or anywhere in a window that ends in
  the past) is asked again too; if it is still missing it is reported as a gap that stays open.
  Real exchange gaps (no trading, maintenance) look the same; either way nothing is invented.

The caller logs the gaps; the candle window never fills them silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from daemon.domain.models import Candle

MAX_ROWS = 500  # what the real exchange returns at most per request

KlinesCall = Callable[[int, int], Awaitable[list[Candle]]]  # (start_ms, end_ms) -> rows


@dataclass(frozen=True, slots=True)
class PageCheck:
    """What one window's answer holds: the usable rows, the open times missing among them, and
    why the answer is wrong (None when it is not)."""

    rows: tuple[Candle, ...]
    missing: tuple[int, ...] = ()
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None and not self.missing


@dataclass(slots=True)
class KlineRange:
    """The rows of a range, in order, and the windows ``[from_ms, to_ms)`` still missing."""

    rows: list[Candle] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    requests: int = 0


def windows(start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into request windows of at most MAX_ROWS candles."""
    if step_ms <= 0 or end_ms < start_ms:
        raise ValueError(f"bad kline range [{start_ms}, {end_ms}) step {step_ms}")
    span = MAX_ROWS * step_ms
    return [(s, min(s + span, end_ms)) for s in range(start_ms, end_ms, span)]


def check_page(rows: Sequence[Candle], start_ms: int, end_ms: int, step_ms: int, *,
               open_ended: bool) -> PageCheck:
    """Check the answer to the window ``[start_ms, end_ms)``. With ``open_ended`` the window
    reaches past the newest candle, so only candles before the last row are expected."""
    previous: int | None = None
    for row in rows:
        t = row.open_time_ms
        if not start_ms <= t < end_ms:
            return PageCheck((), problem=f"row {t} outside the window asked for")
        if (t - start_ms) % step_ms:
            return PageCheck((), problem=f"row {t} is off the {step_ms} ms grid")
        if previous is not None and t <= previous:
            return PageCheck((), problem=f"row {t} after {previous}: not in ascending order")
        previous = t
    until = end_ms if not open_ended else (
        rows[-1].open_time_ms + step_ms if rows else start_ms)
    have = {r.open_time_ms for r in rows}
    missing = tuple(t for t in range(start_ms, until, step_ms) if t not in have)
    return PageCheck(tuple(rows), missing)


def gaps_of(missing: Sequence[int], step_ms: int) -> list[tuple[int, int]]:
    """Consecutive missing open times merged into ``[from_ms, to_ms)`` windows."""
    out: list[tuple[int, int]] = []
    for t in missing:
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], t + step_ms)
        else:
            out.append((t, t + step_ms))
    return out


async def read_range(call: KlinesCall, start_ms: int, end_ms: int | None, step_ms: int, *,
                     tries: int = 2, retry_delay_s: float = 0.2) -> KlineRange:
    """Read ``[start_ms, end_ms)`` (``end_ms`` None: up to the newest candle, the forming one
    included) window by window; each window whose answer is wrong or incomplete is asked
    again, ``tries`` times in all."""
    result = KlineRange()
    start = start_ms
    while end_ms is None or start < end_ms:
        stop = start + MAX_ROWS * step_ms if end_ms is None else min(end_ms,
                                                                       start + MAX_ROWS * step_ms)
        check = await _read_window(call, start, stop, step_ms, end_ms is None, tries,
                                   retry_delay_s, result)
        result.rows.extend(check.rows)
        if check.problem is not None:
            result.gaps.append((start, stop))
        result.gaps.extend(gaps_of(check.missing, step_ms))
        if end_ms is None and (not check.rows or check.rows[-1].open_time_ms + step_ms < stop):
            break  # this window reached the newest candle
        start = stop
    return result


async def _read_window(call: KlinesCall, start: int, stop: int, step_ms: int, open_ended: bool,
                       tries: int, retry_delay_s: float, result: KlineRange) -> PageCheck:
    check = PageCheck(())
    for attempt in range(max(tries, 1)):
        if attempt:
            await asyncio.sleep(retry_delay_s)
        result.requests += 1
        check = check_page(await call(start, stop), start, stop, step_ms, open_ended=open_ended)
        if check.complete:
            break
    return check
