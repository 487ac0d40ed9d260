"""When the replay evaluates, as the daemon does: every schedule.interval_s of candle time
aligned to the epoch, and at the close of a candle that makes a crossover (after the scheduled
evaluation of the same instant); the last price counts as fresh while a candle is forming and
goes stale in a gap of the data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import from_settings
from daemon.config import parse_settings
from daemon.domain.models import Candle, ExchangeRules

D = Decimal
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000
RULES = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D(0))


def decisions(closes: dict[int, int], config: dict[str, Any],
              balances: tuple[str, str] = ("500", "500")) -> list[tuple[int, str, str]]:
    """(ms after T0, trigger, reason code) of the config's run; ``closes`` maps a candle's
    index (its open at T0 + index * 5 min) to its close."""
    candles = tuple(Candle(T0 + i * M5, D(c), D(c), D(c), D(c), D(1), T0 + (i + 1) * M5, D(c))
                    for i, c in sorted(closes.items()))
    replay = Replay(RULES, candles, M5, 0, D(balances[0]), D(balances[1]), "close")
    spec = from_settings("config", parse_settings(config))
    run = run_backtest(replay, [spec]).runs[0]
    return [(d.time_ms - T0, d.trigger, d.reason_code) for d in run.decisions]


def test_schedule_aligned_and_crossover_at_the_crossing_close() -> None:
    # ma 2/3: BEARISH from the third close, BULLISH at candle 6 (closes 2, 3 over 1, 2, 3)
    closes = dict(enumerate([5, 4, 3, 2, 1, 2, 3, 4, 5]))
    strategy = {"name": "symmetric", "ma_short": 2, "ma_long": 3}
    risk = {"max_price_deviation_pct": 100}  # prices that swing by half: no band here
    got = decisions(closes, {"strategy": strategy, "risk": risk,
                             "schedule": {"interval_s": 900}})
    assert [(t, trigger) for t, trigger, _ in got] == [
        (3 * M5, "schedule"), (6 * M5, "schedule"), (7 * M5, "crossover"),
        (9 * M5, "schedule")]
    every_candle = decisions(closes, {"strategy": strategy, "risk": risk,
                                      "schedule": {"interval_s": 300}})
    assert [(t, trigger) for t, trigger, _ in every_candle][6:9] == [
        (7 * M5, "schedule"), (7 * M5, "crossover"), (8 * M5, "schedule")]
    quiet = decisions(closes, {"strategy": strategy, "risk": risk, "schedule": {
        "interval_s": 900, "evaluate_on_crossover": False}})
    assert [t for t, _, _ in quiet] == [3 * M5, 6 * M5, 9 * M5]


def test_price_fresh_while_a_candle_forms_and_stale_in_a_gap() -> None:
    # all quote and orders of at most 10 USDT: every evaluation wants to BUY
    closes = {i: 1 for i in (0, 1, 2, 3, 10, 11)}  # no candles open from 20 to 50 minutes
    config = {"strategy": {"name": "symmetric"}, "schedule": {"interval_s": 60},
              "risk": {"max_order_notional": 10, "min_trade_interval_s": 0,
                       "max_trades_per_day": 1000, "stale_after_s": 120}}
    got = decisions(closes, config, balances=("0", "1000"))
    by_time = {t: code for t, _, code in got}
    assert by_time[M5 + 240_000] == "rebalance_buy"  # within candle 1: it is forming
    assert by_time[4 * M5] == "rebalance_buy"  # the last close before the gap
    assert by_time[4 * M5 + 120_000] == "rebalance_buy"  # exactly stale_after_s old trades
    assert by_time[4 * M5 + 180_000] == "stale_market_data"
    assert by_time[10 * M5 - 60_000] == "stale_market_data"
    assert by_time[10 * M5] == "rebalance_buy"  # candle 10 is forming: fresh again
    assert max(by_time) == 12 * M5  # nothing after the last close
