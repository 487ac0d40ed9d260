"""Evaluations due while an order is followed coalesce, as in the daemon's scheduler, into ONE
evaluation right after the order ends (named after the first trigger that came meanwhile);
the replay dropped them."""

from __future__ import annotations

from decimal import Decimal

from daemon.backtest.result import StrategyRun
from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import from_settings
from daemon.config import parse_settings
from daemon.domain.models import Candle, ExchangeRules

D = Decimal
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000
RULES = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D("0.0005"))
# MA 2/3: BEARISH from the third close, BULLISH at the close of candle 6 (2100 s)
CLOSES = ["1.05", "1.04", "1.03", "1.02", "1.01", "1.02", "1.03", "1.04", "1.05"]
CONFIG = {"strategy": {"name": "symmetric", "ma_short": 2, "ma_long": 3},
          "execution": {"slippage_pct": 0},  # a BUY at the best ask: one level, the rest rests
          "risk": {"max_price_deviation_pct": 100, "min_trade_interval_s": 0,
                   "max_order_notional": 100_000},
          "schedule": {"interval_s": 300}}


def replay_from_the_crossover() -> StrategyRun:
    """All quote; the replay starts at the crossover candle (the ones before warm up)."""
    candles = tuple(Candle(T0 + i * M5, D(c), D(c), D(c), D(c), D(1), T0 + (i + 1) * M5, D(c))
                    for i, c in enumerate(CLOSES))
    replay = Replay(RULES, candles, M5, 0, D(0), D(10000), "sim", warmup=6)
    return run_backtest(replay, [from_settings("config", parse_settings(CONFIG))]).runs[0]


def test_a_crossover_during_a_followed_order_is_evaluated_when_it_ends() -> None:
    run = replay_from_the_crossover()
    got = [((d.time_ms - T0) // 1000, d.trigger, d.action) for d in run.decisions]
    # the scheduled BUY of 2100 s takes one level of the book at once and rests for the rest,
    # which fills level by level (one level's quote per simulated second) until 2125 s
    assert got[:2] == [(2100, "schedule", "BUY"), (2125, "crossover", "HOLD")]
    assert [(t.time_ms - T0) // 1000 for t in run.trades] == [2100]
    assert run.decisions[1].reason_code == "within_threshold"  # bought back to the target
    assert [(t, trigger) for t, trigger, _ in got[2:]] == [(2400, "schedule"),
                                                          (2700, "schedule")]
