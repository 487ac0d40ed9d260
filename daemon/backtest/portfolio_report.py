"""The browser report of a portfolio backtest (``rebalancer backtest --report DIR`` with a
``portfolio`` config): one self-contained ``DIR/index.html``, written and guarded as the
single-pair report is (``daemon.backtest.report``: plotly inlined, a temporary file renamed,
an ``index.html`` it did not write never replaced), showing

- the total value of every run (the baselines included);
- the portfolio's drift of every run: the largest ``|weight_i - target_i|``, in points;
- each asset's share of the value in the config's strategy run, against its target;
- the totals table (one row per run) and the per-asset table (one row per run and asset).

Long runs are thinned for drawing as in the single-pair report; the tables use every candle.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon.backtest.portfolio_result import LegSummary, PortfolioResult, PortfolioRun
from daemon.backtest.report import (
    _CONFIG,
    _HEIGHT,
    _PAGE,
    _STYLE,
    GENERATOR,
    _atomic_write,
    _Draw,
    _e,
    _figure,
    _iso,
    _line,
    _num,
    _prepare,
)
from daemon.backtest.report import _money as _pair_money
from daemon.backtest.thin import DEFAULT_MAX_POINTS
from daemon.errors import InputError

try:  # after daemon.backtest.report, which says how to install plotly when it is missing
    import plotly.io as pio
    from plotly.offline import get_plotlyjs
except ImportError:  # pragma: no cover - the import of daemon.backtest.report fails first
    raise InputError("--report needs the plotly charting library (pip install "
                     "'mexc-rebalancer[report]')") from None

CHART_IDS = ("chart-value", "chart-drift", "chart-weights")


def write_report(result: PortfolioResult, out_dir: Path,
                 max_points: int = DEFAULT_MAX_POINTS) -> Path:
    """Write ``out_dir/index.html`` for ``result`` and return its path (InputError as
    ``report.write_report``)."""
    target = _prepare(Path(out_dir))
    _atomic_write(target, render(result, max_points))
    return target


def render(result: PortfolioResult, max_points: int = DEFAULT_MAX_POINTS) -> str:
    times = [p.time_ms for p in result.runs[0].data.points] if result.runs else []
    step = min((b - a for a, b in itertools.pairwise(times) if b > a), default=None)
    draw = _Draw(max_points, step)
    config = result.runs[0].name if result.runs else ""
    charts = [("Portfolio value", _value_figure(result, draw)),
              ("Portfolio drift: the largest gap of an asset from its target (points)",
               _drift_figure(result, draw)),
              (f"Each asset's share of the value ({config})", _weights_figure(result, draw))]
    title = _title(result)
    body = [f"<h1>{_e(title)}</h1>", _facts(result, max_points), _totals(result),
            "<h2>Per asset</h2>", _assets(result)]
    for (heading, fig), div_id in zip(charts, CHART_IDS, strict=True):
        body.append(f"<h2>{_e(heading)}</h2>")
        body.append(pio.to_html(fig, config=_CONFIG, include_plotlyjs=False, full_html=False,
                                div_id=div_id, default_height=f"{_HEIGHT}px", validate=True))
    return _PAGE.format(generator=GENERATOR, title=_e(title), style=_STYLE,
                        plotlyjs=get_plotlyjs(), body="\n".join(body))


def _title(result: PortfolioResult) -> str:
    pairs = ", ".join(p.pair for p in result.pairs)
    return (f"Backtest of a portfolio ({pairs}): {_iso(result.start_ms)} to "
            f"{_iso(result.end_ms)} UTC")


def _value_figure(result: PortfolioResult, draw: _Draw) -> Any:
    fig = _figure(f"value ({result.quote_asset})")
    for run in result.runs:
        points = run.data.points
        _line(fig, run.name, [p.time_ms for p in points], [float(p.value) for p in points],
              draw)
    return fig


def _drift_figure(result: PortfolioResult, draw: _Draw) -> Any:
    fig = _figure("largest |weight - target| (points)")
    for level in (2, 5):
        fig.add_hline(y=level, line_dash="dot", line_color="#999", line_width=1)
    for run in result.runs:
        targets = [leg.weight for leg in run.data.legs]
        points = run.data.points
        _line(fig, run.name, [p.time_ms for p in points],
              [float(max(abs(w - t) for w, t in zip(p.weights, targets, strict=True))) * 100
               for p in points], draw)
    return fig


def _weights_figure(result: PortfolioResult, draw: _Draw) -> Any:
    fig = _figure("share of the value (%)")
    if not result.runs:
        return fig
    run = result.runs[0]
    points = run.data.points
    targets: dict[float, list[str]] = {}
    for i, leg in enumerate(run.data.legs):
        targets.setdefault(float(leg.weight * 100), []).append(leg.asset)
        _line(fig, leg.asset, [p.time_ms for p in points],
              [float(p.weights[i]) * 100 for p in points], draw)
    for target, assets in targets.items():  # one line (and label) per target value
        fig.add_hline(y=target, line_dash="dash", line_color="#444", line_width=1,
                      annotation_text=f"{', '.join(assets)} target {target:g} %")
    return fig


def _facts(result: PortfolioResult, max_points: int) -> str:
    longest = max((len(r.data.points) for r in result.runs), default=0)
    thinned = (f"Lines are thinned for drawing to at most {max_points:,} points each; the "
               f"tables are computed from all {result.candles:,} candles."
               if longest > max_points else "Every candle is drawn.")
    pairs = "; ".join(f"{p.pair}: {p.candles:,} candles, {p.gaps:,} missing in its file, "
                      f"{p.dropped:,} left out" for p in result.pairs)
    return (f'<p class="facts">{result.candles:,} aligned candles replayed (only the times '
            f"every file has; {result.missing:,} missing, never filled in); fill model "
            f"<b>{_e(result.fill_model)}</b>; money in {_e(result.quote_asset)}. "
            f"{_e(pairs)}. {_e(thinned)}</p>")


_TOTAL_COLUMNS = ("strategy", "avg drift (pts)", "max drift (pts)", "trades", "fees",
                  "turnover", "final value", "return (%)", "vs hold (pts)",
                  "max drawdown (%)")
_ASSET_COLUMNS = ("strategy", "asset", "target (%)", "weight (%)", "avg drift (pts)",
                  "max drift (pts)", "trades", "fees", "turnover", "realized PnL",
                  "unrealized PnL", "quantity", "value")


def _money(d: Decimal) -> str:
    """As the single-pair report's, 0 shown as 0 (not 0e-8)."""
    return _pair_money(d) if d else "0"


def _table(table_id: str, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                     for row in rows)
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
            "</tbody></table>")


def _totals(result: PortfolioResult) -> str:
    rows = []
    for run in result.runs:
        t = run.total
        rows.append((run.name, _num(t.avg_drift_pts), _num(t.max_drift_pts), str(t.trades),
                     _money(t.fees_quote), _money(t.turnover_quote), _money(t.final_value),
                     _num(t.return_pct), _num(t.return_vs_hold_pts), _num(t.max_drawdown_pct)))
    return _table("summary", _TOTAL_COLUMNS, rows)


def _asset_row(run: PortfolioRun, s: LegSummary) -> tuple[str, ...]:
    unrealized = "-" if s.unrealized_pnl is None else _money(s.unrealized_pnl)
    return (run.name, s.asset, _num(s.target * 100), _num(s.final_weight * 100),
            _num(s.avg_drift_pts), _num(s.max_drift_pts), str(s.trades), _money(s.fees_quote),
            _money(s.turnover_quote), _money(s.realized_pnl), unrealized,
            f"{s.final_qty.normalize():f}", _money(s.final_value))


def _assets(result: PortfolioResult) -> str:
    return _table("assets", _ASSET_COLUMNS,
                  [_asset_row(run, s) for run in result.runs for s in run.legs])
