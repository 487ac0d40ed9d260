"""The browser report of a backtest (``rebalancer backtest --report DIR``): one self-contained
``DIR/index.html`` that opens without a network (plotly.js is inlined, no CDN) and shows

- the price of the config's strategy run with MA_short / MA_long and its trades marked;
- the base weight of every run against the target and the threshold band (target +/- threshold);
- the portfolio value of every run (the baselines included);
- the drift (base weight - target, in points) of every run over time;
- the summary table (one row per run).

Charts are drawn with plotly, an optional extra (``pip install 'mexc-rebalancer[report]'``):
importing this module without it raises InputError saying so. Long runs are thinned for drawing
(``daemon.backtest.thin``: each bucket keeps its min and max), and the report says so; the table
is computed from every candle.

The file is written to a temporary name in ``DIR`` and renamed over ``DIR/index.html``; an
existing ``index.html`` that this module did not write is never replaced (InputError)."""

from __future__ import annotations

import html
import itertools
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon.backtest.result import BacktestResult, StrategyRun, Summary
from daemon.backtest.thin import DEFAULT_MAX_POINTS, thin
from daemon.errors import InputError

try:
    import plotly.graph_objects as go
    import plotly.io as pio
    from plotly.offline import get_plotlyjs
except ImportError:  # pragma: no cover - exercised in a subprocess without plotly
    raise InputError("--report needs the plotly charting library, an optional extra: "
                     "pip install 'mexc-rebalancer[report]' (or .venv/bin/pip install "
                     "'.[report]' in the checkout)") from None

INDEX = "index.html"
GENERATOR = "mexc-rebalancer backtest report"  # marks an index.html this module wrote
CHART_IDS = ("chart-price", "chart-weight", "chart-value", "chart-drift")
_MARKER_BYTES = 4096  # the generator meta tag sits in the first bytes of the file
_HEIGHT = 460
_CONFIG = {"displaylogo": False, "responsive": True}


def write_report(result: BacktestResult, out_dir: Path,
                 max_points: int = DEFAULT_MAX_POINTS) -> Path:
    """Write ``out_dir/index.html`` for ``result`` (creating ``out_dir``) and return its path.
    InputError when ``out_dir`` is not a directory, cannot be written, or holds an
    ``index.html`` that is not a report of ours."""
    target = _prepare(Path(out_dir))
    _atomic_write(target, render(result, max_points))
    return target


def render(result: BacktestResult, max_points: int = DEFAULT_MAX_POINTS) -> str:
    """The whole report as one HTML document."""
    draw = _Draw(max_points, _candle_step(result))
    charts = [
        ("Price, moving averages and trades" + _first_run_note(result),
         _price_figure(result, draw)),
        ("Base weight against the target and the threshold band", _weight_figure(result, draw)),
        ("Portfolio value", _value_figure(result, draw)),
        ("Drift from the target (points)", _drift_figure(result, draw)),
    ]
    body = [f"<h1>{_e(_title(result))}</h1>", _facts(result, max_points), _table(result)]
    for (heading, fig), div_id in zip(charts, CHART_IDS, strict=True):
        body.append(f"<h2>{_e(heading)}</h2>")
        body.append(pio.to_html(fig, config=_CONFIG, include_plotlyjs=False, full_html=False,
                                div_id=div_id, default_height=f"{_HEIGHT}px", validate=True))
    return _PAGE.format(generator=GENERATOR, title=_e(_title(result)), style=_STYLE,
                        plotlyjs=get_plotlyjs(), body="\n".join(body))


# --- files ----------------------------------------------------------------------------------

def _prepare(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--report {out_dir}: exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--report {out_dir}: cannot create the directory: "
                         f"{exc.strerror or exc}") from None
    target = out_dir / INDEX
    if (target.exists() or target.is_symlink()) and not is_our_report(target):
        raise InputError(f"--report {out_dir}: {target} exists and is not a backtest report "
                         "written by rebalancer; not replaced (move it away or choose another "
                         "directory)")
    return target


def is_our_report(path: Path) -> bool:
    """Whether ``path`` is a regular file this module wrote (its generator meta tag)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(_MARKER_BYTES)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">'.encode() in head


def _atomic_write(target: Path, text: str) -> None:
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{INDEX}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise InputError(f"--report {target.parent}: cannot write {target.name}: "
                         f"{exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# --- figures --------------------------------------------------------------------------------

def _price_figure(result: BacktestResult, draw: _Draw) -> Any:
    fig = _figure(f"price ({result.quote_asset} per {result.base_asset})")
    if not result.runs:
        return fig
    run = result.runs[0]
    times = [p.time_ms for p in run.points]
    _line(fig, "close", times, [float(p.price) for p in run.points], draw)
    for label, attr in (("MA short", "ma_short"), ("MA long", "ma_long")):
        pairs = [(p.time_ms, getattr(p, attr)) for p in run.points
                 if getattr(p, attr) is not None]
        _line(fig, label, [t for t, _ in pairs], [float(v) for _, v in pairs], draw)
    for side, symbol, colour in (("BUY", "triangle-up", "#1a9850"),
                                 ("SELL", "triangle-down", "#d73027")):
        trades = [t for t in run.trades if t.side == side]
        fig.add_trace(go.Scatter(
            name=f"{side.lower()} ({len(trades)})", mode="markers",
            x=[_iso(t.time_ms) for t in trades], y=[float(t.avg_price) for t in trades],
            marker={"symbol": symbol, "size": 11, "color": colour,
                    "line": {"width": 1, "color": "#222"}},
            text=[f"{t.side} {t.qty} @ {t.avg_price} ({t.reason_code})" for t in trades],
            hoverinfo="text+x"))
    return fig


def _weight_figure(result: BacktestResult, draw: _Draw) -> Any:
    fig = _figure(f"{result.base_asset} share of the value (%)")
    target, band = _pct(result.target_ratio), _pct(result.threshold)
    fig.add_hrect(y0=target - band, y1=target + band, fillcolor="#888", opacity=0.15,
                  line_width=0)
    fig.add_hline(y=target, line_dash="dash", line_color="#444",
                  annotation_text=f"target {target:g} % +/- {band:g}")
    for run in result.runs:
        _line(fig, run.name, [p.time_ms for p in run.points],
              [float(p.base_weight) * 100 for p in run.points], draw)
    return fig


def _value_figure(result: BacktestResult, draw: _Draw) -> Any:
    fig = _figure(f"value ({result.quote_asset})")
    for run in result.runs:
        _line(fig, run.name, [p.time_ms for p in run.points],
              [float(p.value) for p in run.points], draw)
    return fig


def _drift_figure(result: BacktestResult, draw: _Draw) -> Any:
    fig = _figure("base weight - target (points)")
    band = _pct(result.threshold)
    fig.add_hrect(y0=-band, y1=band, fillcolor="#888", opacity=0.15, line_width=0)
    for level in (-5, -2, 2, 5):
        fig.add_hline(y=level, line_dash="dot", line_color="#999", line_width=1)
    target = _pct(result.target_ratio)
    for run in result.runs:
        _line(fig, run.name, [p.time_ms for p in run.points],
              [float(p.base_weight) * 100 - target for p in run.points], draw)
    return fig


def _figure(y_title: str) -> Any:
    fig = go.Figure()
    fig.update_layout(template="plotly_white", hovermode="x unified", height=_HEIGHT,
                      margin={"l": 70, "r": 30, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": 1.08},
                      xaxis={"type": "date", "title": "UTC"}, yaxis={"title": y_title})
    return fig


@dataclass(frozen=True, slots=True)
class _Draw:
    max_points: int  # per line (thinning)
    step_ms: int | None  # the candle length: a longer jump between points is a gap


def _candle_step(result: BacktestResult) -> int | None:
    """The candle length: the shortest time between two points (None: fewer than two)."""
    times = [p.time_ms for p in result.runs[0].points] if result.runs else []
    return min((b - a for a, b in itertools.pairwise(times) if b > a), default=None)


def _line(fig: Any, name: str, times: Sequence[int], ys: Sequence[float], draw: _Draw) -> None:
    xs, vs = thin(times, ys, draw.max_points, step=draw.step_ms)
    fig.add_trace(go.Scatter(name=name, mode="lines", x=[_iso(t) for t in xs], y=vs,
                             line={"width": 1.3}))


# --- text -----------------------------------------------------------------------------------

def _title(result: BacktestResult) -> str:
    return (f"Backtest {result.symbol}: {_iso(result.start_ms)} to {_iso(result.end_ms)} "
            "UTC")


def _first_run_note(result: BacktestResult) -> str:
    return f" ({result.runs[0].name})" if result.runs else ""


def _facts(result: BacktestResult, max_points: int) -> str:
    longest = max((len(r.points) for r in result.runs), default=0)
    thinned = (f"Lines are thinned for drawing to at most {max_points:,} points each (every "
               "bucket keeps its lowest and highest point, so spikes stay visible); the table "
               f"is computed from all {result.candles:,} candles."
               if longest > max_points else "Every candle is drawn.")
    gaps = (f"{result.gaps:,} missing candles in the file (kept as gaps, never filled in)"
            if result.gaps else "no missing candles")
    candles = "1 candle" if result.candles == 1 else f"{result.candles:,} candles"
    return (f'<p class="facts">{candles} replayed, {_e(gaps)}; fill model '
            f"<b>{_e(result.fill_model)}</b>; target {_pct(result.target_ratio):g} % "
            f"{_e(result.base_asset)}, threshold {_pct(result.threshold):g} points. "
            f"{_e(thinned)}</p>")


_COLUMNS = ("strategy", "avg drift (pts)", "max drift (pts)", "time > 2 pts (%)",
            "time > 5 pts (%)", "trades", "fees", "turnover", "final value", "return (%)",
            "vs hold (pts)", "max drawdown (%)", "reasons")


def _table(result: BacktestResult) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in _COLUMNS)
    rows = "\n".join(_row(r) for r in result.runs)
    return (f'<table id="summary"><thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n'
            "</tbody></table>")


def _row(run: StrategyRun) -> str:
    s: Summary = run.summary
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.reason_counts.items()))
    cells = (run.name, _num(s.avg_drift_pts), _num(s.max_drift_pts),
             _num(s.pct_time_beyond_2), _num(s.pct_time_beyond_5), str(s.trades),
             _money(s.fees_quote), _money(s.turnover_quote), _money(s.final_value),
             _num(s.return_pct), _num(s.return_vs_hold_pts), _num(s.max_drawdown_pct), reasons)
    return "<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>"


def _num(d: Decimal) -> str:
    return f"{d:,.2f}"


def _money(d: Decimal) -> str:
    return f"{d:,.2f}" if abs(d) >= 100 else f"{d:.6g}"


def _pct(fraction: Decimal) -> float:
    return float(fraction * 100)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.facts { color: #444; max-width: 70em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: right; }
th:first-child, td:first-child, td:last-child { text-align: left; }
thead { background: #f0f0f0; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{generator}">
<title>{title}</title>
<style>{style}</style>
<script type="text/javascript">{plotlyjs}</script>
</head>
<body>
{body}
</body>
</html>
"""
