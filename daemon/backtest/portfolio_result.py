"""What a portfolio backtest produces (``portfolio_runner``), its figures per asset and in
total, the table the command prints and the ``--json`` document. Pure: no I/O.

Per asset (leg): trades (orders with at least one fill), fees (valued in quote), turnover,
realized PnL and unrealized PnL at the last close (the daemon's cost basis, its books), the
quantity held and its value at the last close, and its drift ``q_i * price_i / V - w_i``
(mean and max of its absolute value, in points). In total: the final value (quote plus every
asset at its last close), return on the starting value at the first aligned close, return vs
the hold baseline (points), max drawdown, and the portfolio's drift, the largest ``|drift_i|``
at each close (mean and max, points).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from daemon.backtest.align import PairCoverage
from daemon.backtest.result import Decision, TradeMark
from daemon.backtest.summary import max_drawdown_pct, plain_value
from daemon.domain.books import Booked
from daemon.domain.money import fmt

HUNDRED = Decimal(100)
ZERO = Decimal(0)
PCT = Decimal("0.0001")
MONEY = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class PortfolioPoint:
    """The portfolio at one aligned close: each asset's close and weight (in the order of
    the legs) and the total value."""

    time_ms: int
    closes: tuple[Decimal, ...]
    weights: tuple[Decimal, ...]
    value: Decimal


@dataclass(frozen=True, slots=True)
class LegData:
    asset: str
    symbol: str
    weight: Decimal  # the target
    decisions: tuple[Decision, ...]
    trades: tuple[TradeMark, ...]
    final_qty: Decimal
    books: Booked


@dataclass(frozen=True, slots=True)
class PortfolioRunData:
    name: str
    points: tuple[PortfolioPoint, ...]
    legs: tuple[LegData, ...]
    final_quote: Decimal


@dataclass(frozen=True, slots=True)
class LegSummary:
    asset: str
    symbol: str
    target: Decimal
    trades: int
    fees_quote: Decimal
    turnover_quote: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None  # None while the cost basis is unknown
    final_qty: Decimal
    final_value: Decimal
    final_weight: Decimal
    avg_drift_pts: Decimal
    max_drift_pts: Decimal
    reason_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TotalSummary:
    trades: int
    fees_quote: Decimal
    turnover_quote: Decimal
    final_quote: Decimal
    final_value: Decimal
    return_pct: Decimal
    return_vs_hold_pts: Decimal
    max_drawdown_pct: Decimal
    avg_drift_pts: Decimal  # mean over the closes of the largest |drift_i|
    max_drift_pts: Decimal


@dataclass(frozen=True, slots=True)
class PortfolioRun:
    name: str
    data: PortfolioRunData
    total: TotalSummary
    legs: tuple[LegSummary, ...]


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    quote_asset: str
    fill_model: str
    candles: int  # aligned candles replayed
    missing: int  # candle windows within the aligned range not replayed
    start_ms: int
    end_ms: int
    start_value: Decimal
    pairs: tuple[PairCoverage, ...]
    runs: tuple[PortfolioRun, ...]


def _drift_figures(drifts: list[Decimal]) -> tuple[Decimal, Decimal]:
    """(mean, max) of ``drifts`` (absolute values) in points."""
    if not drifts:
        return ZERO, ZERO
    return ((sum(drifts, ZERO) / len(drifts) * HUNDRED).quantize(PCT),
            (max(drifts) * HUNDRED).quantize(PCT))


def _leg_summary(i: int, leg: LegData, points: tuple[PortfolioPoint, ...]) -> LegSummary:
    drifts = [abs(p.weights[i] - leg.weight) for p in points]
    avg, worst = _drift_figures(drifts)
    last = points[-1] if points else None
    price = last.closes[i] if last is not None else ZERO
    unrealized = leg.books.cost.unrealized(price)
    return LegSummary(
        leg.asset, leg.symbol, leg.weight, len(leg.trades),
        sum((t.fee_quote for t in leg.trades), ZERO).quantize(MONEY),
        sum((t.quote for t in leg.trades), ZERO).quantize(MONEY),
        leg.books.cost.realized_pnl.quantize(MONEY),
        None if unrealized is None else unrealized.quantize(MONEY),
        leg.final_qty, (leg.final_qty * price).quantize(MONEY),
        (last.weights[i] if last is not None else ZERO).quantize(PCT), avg, worst,
        dict(sorted(Counter(d.reason_code for d in leg.decisions).items())))


def _total(run: PortfolioRunData, legs: tuple[LegSummary, ...], start_value: Decimal,
           hold_return: Decimal | None) -> TotalSummary:
    final = run.points[-1].value if run.points else start_value
    ret = (final / start_value - 1) * HUNDRED if start_value > 0 else ZERO
    targets = [leg.weight for leg in run.legs]
    avg, worst = _drift_figures([max(abs(w - t) for w, t in zip(p.weights, targets, strict=True))
                                 for p in run.points])
    return TotalSummary(
        sum(leg.trades for leg in legs), sum((leg.fees_quote for leg in legs), ZERO),
        sum((leg.turnover_quote for leg in legs), ZERO), run.final_quote,
        final.quantize(MONEY), ret.quantize(PCT),
        (ZERO if hold_return is None else ret - hold_return).quantize(PCT),
        max_drawdown_pct([p.value for p in run.points]).quantize(PCT), avg, worst)


def summarize_portfolio(facts: tuple[str, str, int, int, int, Decimal],
                        runs: list[PortfolioRunData],
                        pairs: tuple[PairCoverage, ...] = (), missing: int = 0
                        ) -> PortfolioResult:
    quote, fill_model, candles, start_ms, end_ms, start_value = facts
    summaries = {}
    for r in runs:
        summaries[r.name] = tuple(_leg_summary(i, leg, r.points) for i, leg in enumerate(r.legs))
    hold = next(r for r in runs if r.name == "hold")
    hold_total = _total(hold, summaries["hold"], start_value, None)
    out = tuple(PortfolioRun(r.name, r, hold_total if r is hold else
                             _total(r, summaries[r.name], start_value, hold_total.return_pct),
                             summaries[r.name]) for r in runs)
    return PortfolioResult(quote, fill_model, candles, missing, start_ms, end_ms, start_value,
                           pairs, out)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _two(value: Decimal | None) -> str:
    return "-" if value is None else fmt(value.quantize(Decimal("0.01")))


def _qty(value: Decimal) -> str:
    return fmt(value.normalize()) if value else "0"


LEG_COLUMNS = (("asset", 10), ("target %", 8), ("weight %", 8), ("avg drift", 9),
               ("max drift", 9), ("trades", 6), ("fees", 10), ("turnover", 12),
               ("realized", 11), ("unrealized", 11), ("quantity", 16), ("value", 13))
TOTAL_COLUMNS = (("strategy", 16), ("avg drift", 9), ("max drift", 9), ("trades", 6),
                 ("fees", 10), ("turnover", 12), ("final value", 13), ("return %", 9),
                 ("vs hold", 8), ("max DD %", 8))


def _row(cells: list[str], columns: tuple[tuple[str, int], ...]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w)
                     for i, (c, (_, w)) in enumerate(zip(cells, columns, strict=True)))


def _leg_row(s: LegSummary) -> str:
    return _row([s.asset, _two(s.target * HUNDRED), _two(s.final_weight * HUNDRED),
                 _two(s.avg_drift_pts), _two(s.max_drift_pts), str(s.trades), _two(s.fees_quote),
                 _two(s.turnover_quote), _two(s.realized_pnl), _two(s.unrealized_pnl),
                 _qty(s.final_qty), _two(s.final_value)], LEG_COLUMNS)


def table(result: PortfolioResult) -> str:
    """The totals (one row per strategy), each strategy's assets, the pairs' coverage and
    the reason codes per asset."""
    pairs = ", ".join(p.pair for p in result.pairs)
    lines = [f"portfolio {pairs}: {result.candles} aligned candles {_iso(result.start_ms)} .. "
             f"{_iso(result.end_ms)} UTC ({result.missing} missing), fill model "
             f"{result.fill_model}; drift in points (the largest of the assets'), money in "
             f"{result.quote_asset}", ""]
    lines.append(_row([name for name, _ in TOTAL_COLUMNS], TOTAL_COLUMNS))
    for run in result.runs:
        t = run.total
        lines.append(_row([run.name[:16], _two(t.avg_drift_pts), _two(t.max_drift_pts),
                           str(t.trades), _two(t.fees_quote), _two(t.turnover_quote),
                           _two(t.final_value), _two(t.return_pct), _two(t.return_vs_hold_pts),
                           _two(t.max_drawdown_pct)], TOTAL_COLUMNS))
    for run in result.runs:
        lines += ["", f"per asset, {run.name} (final {result.quote_asset} "
                  f"{_two(run.total.final_quote)}):",
                  _row([name for name, _ in LEG_COLUMNS], LEG_COLUMNS)]
        lines += [_leg_row(s) for s in run.legs]
    lines += ["", "candle files (only the times every file has are replayed):"]
    lines += [f"  {p.pair}: {p.path}: {p.candles} candles, {p.gaps} missing in the file, "
              f"{p.dropped} left out (another file has no candle then)" for p in result.pairs]
    lines += ["", "reason codes (evaluations):"]
    for run in result.runs:
        if run.name == "hold":
            lines.append("  hold: none (never evaluates)")
            continue
        for s in run.legs:
            counts = ", ".join(f"{k} {v}" for k, v in s.reason_counts.items())
            lines.append(f"  {run.name} {s.asset}: {counts}")
    return "\n".join(lines)


def _fields(obj: Any) -> dict[str, Any]:
    return {name: plain_value(getattr(obj, name)) for name in obj.__dataclass_fields__}


def to_json(result: PortfolioResult) -> dict[str, Any]:
    """The table's content as one JSON-able document (decimals as strings)."""
    return {
        "portfolio": True, "quote_asset": result.quote_asset,
        "fill_model": result.fill_model, "candles": result.candles,
        "missing": result.missing, "start_ms": result.start_ms, "end_ms": result.end_ms,
        "start_value": fmt(result.start_value),
        "pairs": [_fields(p) for p in result.pairs],
        "runs": [{"name": run.name, "total": _fields(run.total),
                  "assets": [_fields(s) for s in run.legs]} for run in result.runs],
    }
