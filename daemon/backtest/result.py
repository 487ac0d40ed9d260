"""What a backtest produces: one :class:`StrategyRun` per strategy compared (the config's own
first, then the ``--compare`` ones), all on the same candles and the same fill model.

This is the contract between the replay (``runner``), the table and ``--json`` (``summary``)
and the browser report (``report``). Pure values: no I/O. Times are epoch milliseconds of
candle time; money is Decimal in the quote asset; weights are fractions (0.5 = 50 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from daemon.domain.books import Booked


@dataclass(frozen=True, slots=True)
class Point:
    """The portfolio at the close of one candle (one per candle replayed)."""

    time_ms: int  # the candle's close time
    price: Decimal  # its close
    ma_short: Decimal | None  # None until enough closed candles
    ma_long: Decimal | None
    base_weight: Decimal  # base value / total value, 0..1
    value: Decimal  # base * price + quote


@dataclass(frozen=True, slots=True)
class Decision:
    """One evaluation, as the daemon's plan history would record it."""

    time_ms: int
    trigger: str  # "schedule" | "crossover" | "calendar"
    action: str  # "BUY" | "SELL" | "HOLD"
    qty: Decimal  # 0 for HOLD
    reason_code: str  # STRATEGY.md reason code (rebalance_buy, within_threshold, ...)


@dataclass(frozen=True, slots=True)
class TradeMark:
    """One executed order (all its fills together)."""

    time_ms: int
    side: str  # "BUY" | "SELL"
    qty: Decimal  # base quantity filled
    avg_price: Decimal  # quote per base, fee excluded
    quote: Decimal  # quote amount exchanged
    fee_quote: Decimal  # fees valued in quote
    reason_code: str


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of one run, as the table and ``--json`` show them."""

    avg_drift_pts: Decimal  # mean |base weight - target| in percentage points
    max_drift_pts: Decimal
    pct_time_beyond_2: Decimal  # % of candles with drift above 2 points
    pct_time_beyond_5: Decimal
    trades: int
    fees_quote: Decimal
    turnover_quote: Decimal  # sum of quote exchanged
    final_value: Decimal
    return_pct: Decimal  # final / initial value - 1, in percent
    return_vs_hold_pts: Decimal  # return_pct minus the hold baseline's, in points
    max_drawdown_pct: Decimal
    reason_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StrategyRun:
    name: str  # "config" (the config's own strategy), "hold", "calendar:24h", a file name, ...
    points: tuple[Point, ...]
    decisions: tuple[Decision, ...]
    trades: tuple[TradeMark, ...]
    summary: Summary
    final_base: Decimal = Decimal(0)
    final_quote: Decimal = Decimal(0)
    final_core_floor: Decimal | None = None
    # the books at the end as the daemon keeps them (cost basis, core floor, trade counters)
    final_books: Booked | None = None


@dataclass(frozen=True, slots=True)
class BacktestResult:
    symbol: str
    base_asset: str
    quote_asset: str
    target_ratio: Decimal  # the config's strategy.ratio
    threshold: Decimal  # the config's strategy.threshold (the band drawn around the target)
    fill_model: str  # "sim" | "close"
    candles: int  # candles replayed
    gaps: int  # missing candles detected in the file (kept as gaps, never filled in)
    start_ms: int
    end_ms: int
    runs: tuple[StrategyRun, ...]
