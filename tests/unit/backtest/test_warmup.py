"""A replay's warm-up (``Replay.warmup``): the leading candles only fill the window, as the
daemon's backfill does before it decides; the replay, its points and its decisions start after
them. And the books at the end (``StrategyRun.final_books``) are the ones the trades made."""

from __future__ import annotations

from decimal import Decimal

from daemon.backtest.result import BacktestResult
from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import from_settings
from daemon.config import parse_settings
from daemon.domain.models import Candle, ExchangeRules

D = Decimal
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000
RULES = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D(0))
# down for 40 candles, then up: MA7 crosses above MA25 a few candles after the turn
CLOSES = [D(2) - D(i) / 100 for i in range(40)] + [D("1.61") + D(i) / 50 for i in range(40)]
WARMUP = 30
HALF = D(500)  # the starting balances: 500 QRL, 500 USDT


def replay(warmup: int, closes: list[Decimal] = CLOSES, base: Decimal = HALF,
           quote: Decimal = HALF) -> Replay:
    series = tuple(Candle(T0 + i * M5, c, c, c, c, D(100), T0 + (i + 1) * M5, c * 100)
                   for i, c in enumerate(closes))
    return Replay(RULES, series, M5, 0, base, quote, "close", warmup=warmup)


def run(warmup: int, closes: list[Decimal] = CLOSES, strategy: str = "intelligent"
        ) -> BacktestResult:
    """Evaluated at every candle close (schedule 300 s)."""
    settings = parse_settings({"execution": {"slippage_pct": 0},
                               # v1's gates alone: these cases are about the window
                               "strategy": {"name": strategy, "initial_cost_basis": "1.7",
                                            "max_drift": None},
                               "schedule": {"interval_s": 300}})
    return run_backtest(replay(warmup, closes), [from_settings("config", settings)])


def test_the_warm_up_candles_are_never_evaluated_nor_drawn() -> None:
    result = run(WARMUP)
    config = result.runs[0]
    first = T0 + (WARMUP + 1) * M5  # the close of the first candle replayed
    assert result.candles == len(CLOSES) - WARMUP
    assert result.start_ms == T0 + WARMUP * M5
    assert [p.time_ms for p in config.points][:2] == [first, first + M5]
    assert len(config.points) == len(CLOSES) - WARMUP
    hold = result.runs[-1]
    assert hold.name == "hold" and [p.time_ms for p in hold.points] == [
        p.time_ms for p in config.points]
    assert config.decisions[0].time_ms == first
    assert all(d.time_ms >= first for d in config.decisions)


def test_a_warm_window_decides_where_a_cold_start_has_no_signal() -> None:
    warm = run(WARMUP).runs[0]
    cold = run(0, CLOSES[WARMUP:]).runs[0]
    # the same candles replayed; cold, MA25 needs 25 of them first
    assert [d.reason_code for d in cold.decisions[:24]] == ["insufficient_data"] * 24
    assert "insufficient_data" not in {d.reason_code for d in warm.decisions}
    # too much base in a downtrend, below the cost basis: a decision on the trend
    assert warm.decisions[0].reason_code == "below_profit_target"


def test_the_final_books_are_the_trades_ones() -> None:
    config = run(WARMUP, strategy="symmetric").runs[0]
    books = config.final_books
    assert books is not None and config.trades
    assert books.counters.trades_total == len(config.trades)
    assert books.core_floor == config.final_core_floor  # None: symmetric keeps no floor
    bought = sum(t.qty for t in config.trades if t.side == "BUY")
    sold = sum(t.qty for t in config.trades if t.side == "SELL")
    assert books.cost.qty == D(500) + bought - sold  # fees 0


def test_a_scheduled_evaluation_at_a_close_decides_on_the_window_before_it() -> None:
    """The daemon's schedule fires as the candle closing at that instant closes, before its
    stream reports the candle (the first push of the next window comes after the instant;
    measured against the simulator at speed 1: the plan's MA7 is the window's without that
    candle). A crossover on that candle is evaluated right after, on the new window."""
    settings = parse_settings({"execution": {"slippage_pct": 0},
                               "strategy": {"initial_cost_basis": "3", "max_drift": None},
                               "schedule": {"interval_s": 300}})
    result = run_backtest(replay(WARMUP, base=D(100), quote=D(1000)),
                          [from_settings("config", settings)])
    config = result.runs[0]
    cross = next(d for d in config.decisions if d.trigger == "crossover")
    at_cross = [(d.trigger, d.action, d.reason_code) for d in config.decisions
                if d.time_ms == cross.time_ms]
    # too little base (price fell), below the cost basis: a BUY once the trend is BULLISH
    assert at_cross == [("schedule", "HOLD", "no_buy_signal"),
                        ("crossover", "BUY", "rebalance_buy")]
