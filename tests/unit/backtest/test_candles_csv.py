"""Candle files: the ../shared/data layout read exactly (Decimal from the strings), every bad
row an error naming the file and line, gaps counted and never filled in, --from/--to, and the
writer (temporary file renamed)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon.backtest.candles_csv import HEADER, parse_when, read_candles, write_candles
from daemon.domain.models import Candle
from daemon.errors import InputError

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000


def row(i: int, close: str = "0.05", *, open_ms: int | None = None) -> str:
    t = T0 + i * M5 if open_ms is None else open_ms
    return f"{t},{close},{close},{close},{close},10,{t + M5},0.5"


def write(tmp_path: Path, lines: list[str], header: str = ",".join(HEADER)) -> Path:
    path = tmp_path / "c.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_reads_decimals_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, [f"{T0},0.0984,0.0994766,0.09828605,0.0994766,1820.54447418,"
                            f"{T0 + M5},181.1015744402", row(1)])
    series = read_candles(path)
    assert series.candles[0] == Candle(T0, Decimal("0.0984"), Decimal("0.0994766"),
                                       Decimal("0.09828605"), Decimal("0.0994766"),
                                       Decimal("1820.54447418"), T0 + M5,
                                       Decimal("181.1015744402"))
    assert (series.interval_ms, series.gaps, len(series.candles)) == (M5, 0, 2)


@pytest.mark.parametrize(("lines", "header", "expected"), [
    ([row(0)], "open_time,open,high,low,close,volume,close_time,quote_volume",
     "c.csv:1: expected the header open_time_ms,open"),
    ([row(0), "1,2,3"], None, "c.csv:3: expected 8 fields, got 3"),
    ([row(0), row(1, "abc")], None, "c.csv:3: open 'abc' is not a number"),
    ([row(0), row(1, "-1")], None, "c.csv:3: open '-1' must be a finite number >= 0"),
    ([row(0), row(0)], None, "c.csv:3: open_time_ms 1699920000000 is duplicate"),
    ([row(1), row(0)], None, "c.csv:3: open_time_ms 1699920000000 is out of order"),
    ([row(0), row(1, open_ms=T0 + M5 + 7)], None, "is not on the 300000 ms grid"),
    ([f"{T0},1,0.9,0.8,1,1,{T0 + M5},1"], None, "c.csv:2: prices are not a candle"),
    ([f"x{T0},1,1,1,1,1,{T0 + M5},1"], None, "c.csv:2: open_time_ms 'x1699920000000' is not"),
])
def test_bad_rows_name_the_file_and_line(tmp_path: Path, lines: list[str], header: str | None,
                                         expected: str) -> None:
    path = write(tmp_path, lines, header or ",".join(HEADER))
    with pytest.raises(InputError) as info:
        read_candles(path)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_missing_file_and_empty_range(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_candles(tmp_path / "nope.csv")
    path = write(tmp_path, [row(0)])
    with pytest.raises(InputError, match="no candles between 2030-01-01T00:00:00Z"):
        read_candles(path, from_ms=parse_when("2030-01-01", "--from"))


def test_gaps_are_counted_not_filled(tmp_path: Path) -> None:
    path = write(tmp_path, [row(0), row(1), row(4), row(5), row(9)])
    series = read_candles(path)
    assert series.gaps == 2 + 3
    assert [c.open_time_ms for c in series.candles] == [T0 + i * M5 for i in (0, 1, 4, 5, 9)]


def test_from_to_keeps_candles_opening_in_the_range(tmp_path: Path) -> None:
    path = write(tmp_path, [row(i) for i in range(10)])
    series = read_candles(path, from_ms=T0 + 2 * M5, to_ms=T0 + 5 * M5)
    assert [c.open_time_ms for c in series.candles] == [T0 + i * M5 for i in (2, 3, 4)]


def test_parse_when() -> None:
    assert parse_when("2023-11-14", "--from") == T0
    assert parse_when("2023-11-14T00:05", "--from") == T0 + M5
    assert parse_when("2023-11-14T00:05:00Z", "--from") == T0 + M5
    assert parse_when("2023-11-14T01:05:00+01:00", "--to") == T0 + M5
    with pytest.raises(InputError, match="--to 'yesterday': not an ISO date"):
        parse_when("yesterday", "--to")


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    src = read_candles(write(tmp_path, [row(0, "0.0000529"), row(1, "12.5"), row(3)]))
    out = tmp_path / "out.csv"
    assert write_candles(out, src.candles) == 3
    again = read_candles(out)
    assert again.candles == src.candles and again.gaps == 1
    first = f"{T0},0.0000529,0.0000529,0.0000529,0.0000529,10,{T0 + M5},0.5"
    assert out.read_text().splitlines()[1] == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "out.csv"]  # no temp left


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the repository")
def test_real_files_report_their_gaps() -> None:
    assert read_candles(SHARED / "TRX_BTC-5m.csv").gaps == 6
    assert read_candles(SHARED / "ADA_BTC-5m.csv").gaps == 40
    eth = read_candles(SHARED / "ETH_BTC-5m.csv")
    assert (len(eth.candles), eth.gaps, eth.interval_ms) == (5760, 0, M5)
