"""The Summary figures on a hand-computed run, and the table / --json rendering of them."""

from __future__ import annotations

import json
from decimal import Decimal

from daemon.backtest.result import BacktestResult, Decision, Point, StrategyRun, TradeMark
from daemon.backtest.summary import RunData, max_drawdown_pct, summarize, table, to_json

D = Decimal


def point(i: int, weight: str, value: str) -> Point:
    return Point(i, D(1), None, None, D(weight), D(value))


RUN = RunData(
    "config", D("0.5"),
    # drift in points: 0, 3, 6, 1 -> mean 2.5, max 6; beyond 2: 2 of 4, beyond 5: 1 of 4
    (point(1, "0.5", "100"), point(2, "0.53", "120"), point(3, "0.44", "90"),
     point(4, "0.51", "110")),
    (Decision(1, "schedule", "HOLD", D(0), "within_threshold"),
     Decision(2, "crossover", "SELL", D(5), "rebalance_sell"),
     Decision(3, "schedule", "HOLD", D(0), "within_threshold")),
    (TradeMark(2, "SELL", D(5), D(2), D(10), D("0.01"), "rebalance_sell"),
     TradeMark(3, "BUY", D(4), D("2.5"), D(10), D("0.02"), "rebalance_buy")),
    D(1), D(2), None)


def test_figures_by_hand() -> None:
    s = summarize(RUN, D(100), D(4))
    assert (s.avg_drift_pts, s.max_drift_pts) == (D("2.5"), D(6))
    assert (s.pct_time_beyond_2, s.pct_time_beyond_5) == (D(50), D(25))
    assert (s.trades, s.fees_quote, s.turnover_quote) == (2, D("0.03"), D(20))
    assert (s.final_value, s.return_pct, s.return_vs_hold_pts) == (D(110), D(10), D(6))
    assert s.max_drawdown_pct == D(25)  # 120 -> 90
    assert s.reason_counts == {"rebalance_sell": 1, "within_threshold": 2}
    assert summarize(RUN, D(100), None).return_vs_hold_pts == 0


def test_drawdown_takes_the_worst_fall_from_a_running_peak() -> None:
    assert max_drawdown_pct([D(10), D(8), D(12), D(9), D(15), D(14)]) == D(25)
    assert max_drawdown_pct([D(1), D(2), D(3)]) == 0


def test_table_and_json_show_the_same_figures() -> None:
    s = summarize(RUN, D(100), D(4))
    run = StrategyRun("config", RUN.points, RUN.decisions, RUN.trades, s, D(1), D(2), None)
    result = BacktestResult("QRLUSDT", "QRL", "USDT", D("0.5"), D("0.01"), "close", 4, 1,
                            1_699_920_000_000, 1_699_921_200_000, (run,))
    text = table(result)
    assert "QRLUSDT: 4 candles 2023-11-14 00:00 .. 2023-11-14 00:20 UTC (1 missing)" in text
    row = next(line for line in text.splitlines() if line.startswith("config "))
    assert row.split() == ["config", "2.5", "6", "50", "25", "2", "0.03", "20", "110", "10",
                           "6", "25"]
    assert "  config: rebalance_sell 1, within_threshold 2" in text
    doc = json.loads(json.dumps(to_json(result)))
    figures = doc["runs"][0]["summary"]
    assert figures["avg_drift_pts"] == "2.5" and figures["return_vs_hold_pts"] == "6"
    assert figures["trades"] == 2 and doc["gaps"] == 1 and doc["runs"][0]["final_quote"] == "2"
