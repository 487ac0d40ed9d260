"""The figures of a run (:class:`Summary`), the table the command prints (one row per
strategy) and the ``--json`` document (decimals as strings).

Per run, over its points (one per candle, at the close):
- drift = |base weight - the run's target ratio| in percentage points: mean, max, and the
  share of candles with drift above 2 and above 5 points;
- trades (orders with at least one fill), fees (valued in quote at the fill price), turnover
  (quote exchanged), final value (at the last close);
- return = final value / value of the starting portfolio at the first close - 1, in percent;
  return vs hold = return minus the hold baseline's, in points;
- max drawdown = the largest fall from a running peak of the value, in percent of the peak;
- reason counts: how many evaluations ended on each reason code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from daemon.backtest.result import BacktestResult, Decision, Point, Summary, TradeMark
from daemon.domain.books import Booked
from daemon.domain.money import fmt

HUNDRED = Decimal(100)
ZERO = Decimal(0)
PCT = Decimal("0.0001")
MONEY = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class RunData:
    """What a replay recorded for one strategy, before its summary."""

    name: str
    ratio: Decimal
    points: tuple[Point, ...]
    decisions: tuple[Decision, ...]
    trades: tuple[TradeMark, ...]
    final_base: Decimal
    final_quote: Decimal
    core_floor: Decimal | None
    books: Booked | None = None  # cost basis, core floor and trade counters at the end


def _drifts(points: tuple[Point, ...], ratio: Decimal) -> tuple[Decimal, Decimal, int, int]:
    """(sum, max of |weight - ratio| in points, candles beyond 2 points, beyond 5 points).
    A run's weight only changes with a trade or the close: the same Decimal object in a row
    is not measured again."""
    total = max_d = d = ZERO
    beyond2 = beyond5 = 0
    two, five = Decimal("0.02"), Decimal("0.05")
    last: Decimal | None = None
    for p in points:
        w = p.base_weight
        if w is not last:
            last = w
            d = abs(w - ratio)
            if d > max_d:
                max_d = d
        total += d
        if d > two:
            beyond2 += 1
            if d > five:
                beyond5 += 1
    return total * HUNDRED, max_d * HUNDRED, beyond2, beyond5


def max_drawdown_pct(values: list[Decimal]) -> Decimal:
    peak, worst = ZERO, ZERO
    last: Decimal | None = None
    for v in values:
        if v is last:
            continue
        last = v
        if v > peak:
            peak = v
        elif peak > 0:
            fall = (peak - v) / peak
            if fall > worst:
                worst = fall
    return worst * HUNDRED


def summarize(run: RunData, initial_value: Decimal, hold_return_pct: Decimal | None) -> Summary:
    """The run's figures; ``hold_return_pct`` None: this is the hold run (vs hold = 0)."""
    n = len(run.points)
    total, max_d, beyond2, beyond5 = _drifts(run.points, run.ratio)
    final = run.points[-1].value if n else initial_value
    ret = (final / initial_value - 1) * HUNDRED if initial_value > 0 else ZERO
    reasons = Counter(d.reason_code for d in run.decisions)
    return Summary(
        avg_drift_pts=(total / n if n else ZERO).quantize(PCT),
        max_drift_pts=max_d.quantize(PCT),
        pct_time_beyond_2=(Decimal(beyond2) * HUNDRED / n if n else ZERO).quantize(PCT),
        pct_time_beyond_5=(Decimal(beyond5) * HUNDRED / n if n else ZERO).quantize(PCT),
        trades=len(run.trades),
        fees_quote=sum((t.fee_quote for t in run.trades), ZERO).quantize(MONEY),
        turnover_quote=sum((t.quote for t in run.trades), ZERO).quantize(MONEY),
        final_value=final.quantize(MONEY),
        return_pct=ret.quantize(PCT),
        return_vs_hold_pts=(ZERO if hold_return_pct is None else ret - hold_return_pct
                            ).quantize(PCT),
        max_drawdown_pct=max_drawdown_pct([p.value for p in run.points]).quantize(PCT),
        reason_counts=dict(sorted(reasons.items())),
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


COLUMNS = (("strategy", 16), ("avg drift", 9), ("max drift", 9), (">2pt %", 7), (">5pt %", 7),
           ("trades", 6), ("fees", 10), ("turnover", 12), ("final value", 13),
           ("return %", 9), ("vs hold", 8), ("max DD %", 8))


def _row(cells: list[str]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w)
                     for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS, strict=True)))


def _two(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.01")))


def table(result: BacktestResult) -> str:
    """The comparison table, a header line first and the reason counts after it."""
    lines = [
        f"{result.symbol}: {result.candles} candles {_iso(result.start_ms)} .. "
        f"{_iso(result.end_ms)} UTC ({result.gaps} missing), fill model {result.fill_model}, "
        f"target {fmt(result.target_ratio * HUNDRED)}% of value in {result.base_asset}; "
        f"drift in points, money in {result.quote_asset}",
        "",
        _row([name for name, _ in COLUMNS]),
    ]
    for run in result.runs:
        s = run.summary
        lines.append(_row([
            run.name[:16], _two(s.avg_drift_pts), _two(s.max_drift_pts),
            _two(s.pct_time_beyond_2), _two(s.pct_time_beyond_5), str(s.trades),
            _two(s.fees_quote), _two(s.turnover_quote), _two(s.final_value),
            _two(s.return_pct), _two(s.return_vs_hold_pts), _two(s.max_drawdown_pct)]))
    lines.append("")
    lines.append("reason codes (evaluations):")
    for run in result.runs:
        counts = ", ".join(f"{k} {v}" for k, v in run.summary.reason_counts.items())
        lines.append(f"  {run.name}: {counts or 'none (never evaluates)'}")
    return "\n".join(lines)


def plain_value(value: object) -> Any:
    if isinstance(value, Decimal):
        return fmt(value)
    return value


def to_json(result: BacktestResult) -> dict[str, Any]:
    """The table's content as one JSON-able document (decimals as strings)."""
    runs = []
    for run in result.runs:
        s = run.summary
        figures = {name: plain_value(getattr(s, name)) for name in s.__dataclass_fields__}
        runs.append({"name": run.name, "summary": figures, "final_base": fmt(run.final_base),
                     "final_quote": fmt(run.final_quote),
                     "final_core_floor": None if run.final_core_floor is None
                     else fmt(run.final_core_floor)})
    return {
        "symbol": result.symbol, "base_asset": result.base_asset,
        "quote_asset": result.quote_asset, "target_ratio": fmt(result.target_ratio),
        "threshold": fmt(result.threshold), "fill_model": result.fill_model,
        "candles": result.candles, "gaps": result.gaps, "start_ms": result.start_ms,
        "end_ms": result.end_ms, "runs": runs,
    }
