"""``rebalancer backtest --from DATE`` decides as a daemon started at DATE: the candles before
DATE fill the window first (as many as the daemon backfills), so its averages and trend are
known at the first evaluation; the table, the points and the summary start at DATE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.cli import main
from tests.support.parity import INTERVAL_MS, write_series

REPO = Path(__file__).resolve().parents[3]
T0 = 1_699_920_000_000  # 2023-11-14 00:00 UTC


def backtest(capsys: pytest.CaptureFixture[str], csv: Path, *argv: str) -> dict[str, object]:
    code = main(["backtest", "-c", str(REPO / "config.yaml"), "--candles", str(csv),
                 "--fill", "close", "--start-value", "1000", "--json", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def reasons(doc: dict[str, object]) -> dict[str, int]:
    runs = doc["runs"]
    assert isinstance(runs, list)
    counts = runs[0]["summary"]["reason_counts"]
    assert isinstance(counts, dict)
    return counts


def test_from_starts_with_the_window_the_daemon_would_have(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = tmp_path / "whole.csv"
    candles = write_series(whole, first_open_ms=T0, count=500, seed=3)
    tail = tmp_path / "tail.csv"  # the same candles from 2023-11-15 00:00 only
    lines = whole.read_text().splitlines()
    tail.write_text("\n".join([lines[0], *lines[1 + 288:]]) + "\n")

    warm = backtest(capsys, whole, "--from", "2023-11-15")
    cold = backtest(capsys, tail)
    assert warm["start_ms"] == cold["start_ms"] == candles[288].open_time_ms
    assert warm["candles"] == cold["candles"] == 500 - 288
    # cold, the evaluations (every 15 min) of the first 2 hours have no MA25 yet
    assert reasons(cold)["insufficient_data"] == 8
    assert "insufficient_data" not in reasons(warm)
    assert sum(reasons(warm).values()) == sum(reasons(cold).values())


def test_from_at_the_first_candle_has_no_history(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "candles.csv"
    write_series(csv, first_open_ms=T0, count=100, seed=3)
    doc = backtest(capsys, csv, "--from", "2023-11-14")
    assert (doc["start_ms"], doc["candles"]) == (T0, 100)
    assert doc["end_ms"] == T0 + 100 * INTERVAL_MS
    assert reasons(doc)["insufficient_data"] > 0  # nothing before the first candle
