"""Paging a history endpoint by time windows (daemon.adapters.mexc.history.read_paged): a full
page splits its window, rows at equal timestamps and at window boundaries are neither lost nor
duplicated, whatever end of a full page the exchange keeps and whether endTime is inclusive."""

from __future__ import annotations

import pytest

from daemon.adapters.mexc.history import read_paged

Row = tuple[int, str]  # (time_ms, id)


def rows_at(spec: dict[int, int]) -> list[Row]:
    """``{time_ms: how many rows}`` -> rows with distinct ids."""
    return [(t, f"id{t}-{i}") for t, n in sorted(spec.items()) for i in range(n)]


def exchange(rows: list[Row], *, newest: bool, end_inclusive: bool,
             asked: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    async def call(start: int, end: int, limit: int) -> list[Row]:
        asked.append((start, end))
        hit = [r for r in rows if start <= r[0] and (r[0] <= end if end_inclusive
                                                     else r[0] < end)]
        return hit[-limit:] if newest else hit[:limit]
    return call


@pytest.mark.parametrize("newest", [False, True])
@pytest.mark.parametrize("end_inclusive", [True, False])
async def test_full_pages_split_and_equal_timestamps_are_kept_once(newest: bool,
                                                                   end_inclusive: bool) -> None:
    # 4 rows on each of 6 consecutive milliseconds, and some spread out: limit 5
    rows = rows_at({1000 + i: 4 for i in range(6)} | {10: 1, 500: 2, 1990: 3, 1999: 1})
    asked: list[tuple[int, int]] = []
    paged = await read_paged(exchange(rows, newest=newest, end_inclusive=end_inclusive,
                                      asked=asked),
                             0, 2000, limit=5, key=lambda r: r[1], time_of=lambda r: r[0],
                             window_ms=700)
    assert paged.rows == sorted(rows)  # every row, once, oldest first
    assert paged.problems == []
    assert paged.requests == len(asked) > 3  # full pages were split
    assert all(e - s <= 700 for s, e in asked)


async def test_first_windows_cover_the_range_with_shared_boundaries() -> None:
    asked: list[tuple[int, int]] = []
    rows = [(0, "a"), (700, "b"), (1400, "c"), (2000, "d")]
    paged = await read_paged(exchange(rows, newest=False, end_inclusive=False, asked=asked),
                             0, 2000, limit=5, key=lambda r: r[1], time_of=lambda r: r[0],
                             window_ms=700)
    assert asked == [(0, 700), (700, 1400), (1400, 2000)]
    # an exclusive endTime misses a row at the very end of the range: the caller's range ends
    # at "now", after which there are no rows yet
    assert [r[1] for r in paged.rows] == ["a", "b", "c"]


async def test_a_full_millisecond_cannot_be_split_and_is_reported() -> None:
    rows = rows_at({1000: 7, 1500: 1})
    paged = await read_paged(exchange(rows, newest=False, end_inclusive=True, asked=[]),
                             0, 2000, limit=5, key=lambda r: r[1], time_of=lambda r: r[0],
                             window_ms=2000)
    assert len(paged.problems) == 1
    assert "a full page" in paged.problems[0] and "1000" in paged.problems[0]
    assert len(paged.rows) == 6  # 5 of the 7 rows at 1000 and the one at 1500: all it could


async def test_bad_ranges_are_refused() -> None:
    async def never(start: int, end: int, limit: int) -> list[Row]:
        raise AssertionError("not called")
    with pytest.raises(ValueError):
        await read_paged(never, 10, 5, limit=5, key=lambda r: r, time_of=lambda r: 0)


async def test_an_exchange_that_ignores_the_window_is_not_split_forever() -> None:
    rows = rows_at({t: 1 for t in range(0, 2000, 100)})
    calls: list[tuple[int, int]] = []

    async def ignores(start: int, end: int, limit: int) -> list[Row]:
        calls.append((start, end))
        return rows[:limit]  # always the oldest rows, whatever was asked

    paged = await read_paged(ignores, 1000, 1900, limit=5, key=lambda r: r[1],
                             time_of=lambda r: r[0], window_ms=300)
    assert len(calls) == 3  # one per first window, none split
    assert len(paged.problems) == 3 and "not honoured" in paged.problems[0]


async def test_reading_stops_after_max_requests_and_says_so() -> None:
    rows = rows_at({t: 1 for t in range(0, 2000)})
    paged = await read_paged(exchange(rows, newest=False, end_inclusive=True, asked=[]),
                             0, 2000, limit=5, key=lambda r: r[1], time_of=lambda r: r[0],
                             window_ms=1000, max_requests=10)
    assert paged.requests == 10
    assert paged.problems[0].startswith("rows: gave up after 10 requests")
