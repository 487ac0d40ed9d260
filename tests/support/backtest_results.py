"""A BacktestResult built by hand (no replay engine): a price wave, the config's run trading
at its turns, buy-and-hold and a calendar run, for the report's tests."""

from __future__ import annotations

import math
from decimal import Decimal

from daemon.backtest.result import (
    BacktestResult,
    Decision,
    Point,
    StrategyRun,
    Summary,
    TradeMark,
)

STEP_MS = 300_000  # 5-minute candles
START_MS = 1_515_560_400_000  # 2018-01-10 05:00 UTC
TARGET = Decimal("0.5")
THRESHOLD = Decimal("0.02")


def price_at(i: int) -> Decimal:
    wave = 0.05 * (1 + 0.3 * math.sin(i / 40) + 0.05 * math.sin(i / 3))
    return Decimal(f"{wave:.6f}")


def summary(final_value: Decimal, trades: int, reasons: dict[str, int]) -> Summary:
    return Summary(avg_drift_pts=Decimal("1.8"), max_drift_pts=Decimal("6.2"),
                   pct_time_beyond_2=Decimal("31.5"), pct_time_beyond_5=Decimal("4.1"),
                   trades=trades, fees_quote=Decimal("0.412"),
                   turnover_quote=Decimal("824.5"), final_value=final_value,
                   return_pct=Decimal("3.25"), return_vs_hold_pts=Decimal("1.10"),
                   max_drawdown_pct=Decimal("12.7"), reason_counts=reasons)


def run_of(name: str, n: int, *, trade_every: int) -> StrategyRun:
    """``n`` points; starts at 10,000 base + 500 quote; trades every ``trade_every`` candles
    (0: never), alternating buy and sell, 300 base each."""
    base, quote = Decimal(10_000), Decimal(500)
    points: list[Point] = []
    trades: list[TradeMark] = []
    decisions: list[Decision] = []
    closes: list[Decimal] = []
    for i in range(n):
        t, price = START_MS + (i + 1) * STEP_MS, price_at(i)
        closes.append(price)
        if trade_every and i and i % trade_every == 0:
            side = "BUY" if (i // trade_every) % 2 else "SELL"
            qty, quote_amt = Decimal(300), Decimal(300) * price
            base, quote = (base + qty, quote - quote_amt) if side == "BUY" else (
                base - qty, quote + quote_amt)
            code = "rebalance_buy" if side == "BUY" else "rebalance_sell"
            trades.append(TradeMark(t, side, qty, price, quote_amt, quote_amt / 1000, code))
            decisions.append(Decision(t, "crossover", side, qty, code))
        value = base * price + quote
        points.append(Point(t, price, _ma(closes, 7), _ma(closes, 25), base * price / value,
                            value))
    reasons = {"within_threshold": 40, **({"rebalance_buy": len(trades)} if trades else {})}
    return StrategyRun(name, tuple(points), tuple(decisions), tuple(trades),
                       summary(points[-1].value if points else Decimal(0), len(trades),
                               reasons), base, quote)


def _ma(closes: list[Decimal], n: int) -> Decimal | None:
    return sum(closes[-n:], Decimal(0)) / n if len(closes) >= n else None


def sample_result(n: int = 600) -> BacktestResult:
    runs = (run_of("config", n, trade_every=45), run_of("hold", n, trade_every=0),
            run_of("calendar:24h", n, trade_every=288))
    return BacktestResult(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT",
                          target_ratio=TARGET, threshold=THRESHOLD, fill_model="close",
                          candles=n, gaps=3, start_ms=START_MS,
                          end_ms=START_MS + n * STEP_MS, runs=runs)
