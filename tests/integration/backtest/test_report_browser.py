"""The backtest's browser report (issue 13): a self-contained index.html that a real headless
Chromium, without any network, renders into the four charts and the summary table; written
atomically, never over a file that is not a report of ours; a clear error without plotly."""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from daemon.backtest.report import CHART_IDS, GENERATOR, is_our_report, render, write_report
from daemon.errors import InputError
from tests.support.backtest_results import sample_result
from tests.support.browser import WINDOW, census
from tests.support.browser import render as render_in_browser
from tests.support.png import read_png

PLOTLY_COLOURS = ("636efa", "ef553b", "00cc96")  # the first lines of every chart
MARKER_COLOURS = ("1a9850", "d73027")  # buy and sell markers


def test_the_report_renders_its_charts_in_a_headless_browser(tmp_path: Path) -> None:
    result = sample_result(600)
    page = write_report(result, tmp_path / "report")
    assert page == tmp_path / "report" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link" not in text  # plotly.js is inlined

    shown = render_in_browser(page, tmp_path)

    image = read_png(shown.png)
    assert (image.width, image.height) == WINDOW
    assert len(shown.png) > 100_000  # a blank page of this size is a few kB
    colours = {c.hex() for c in image.colours()}
    assert len(colours) > 1000, len(colours)
    assert set(PLOTLY_COLOURS + MARKER_COLOURS) <= colours
    drawn = census(shown.dom, CHART_IDS)
    # price: close, MA short, MA long, buys, sells; the other three: one line per run
    assert drawn.traces == {"chart-price": 5, "chart-weight": 3, "chart-value": 3,
                            "chart-drift": 3}
    for chart in CHART_IDS:
        assert drawn.svgs[chart] >= 1, chart
        lines = drawn.line_lengths[chart]  # the lines' paths, and short legend swatches
        assert len([n for n in lines if n > 1000]) == 3, (chart, lines)  # 600-point lines
    assert '<table id="summary">' in shown.dom
    for run in result.runs:
        assert f"<td>{run.name}</td>" in shown.dom


def test_a_year_of_candles_is_thinned_for_drawing_and_says_so() -> None:
    result = sample_result(6000)
    html = render(result, max_points=1000)
    assert "thinned for drawing to at most 1,000 points" in html
    assert "computed from all 6,000 candles" in html
    assert "Every candle is drawn" in render(sample_result(300), max_points=1000)


def test_an_index_html_that_is_not_ours_is_never_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    foreign = out / "index.html"
    foreign.write_text("<html>my own page</html>")
    with pytest.raises(InputError, match="exists and is not a backtest report"):
        write_report(sample_result(50), out)
    assert foreign.read_text() == "<html>my own page</html>"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # no temp file left


def test_our_own_report_is_replaced_and_a_file_is_not_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    first = write_report(sample_result(50), out)  # creates the directories
    assert is_our_report(first) and GENERATOR in first.read_text(encoding="utf-8")[:4096]
    second = write_report(sample_result(80), out)
    assert "80 candles replayed" in second.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(InputError, match="plain: exists and is not a directory"):
        write_report(sample_result(50), plain)


def test_run_names_are_escaped() -> None:
    result = sample_result(50)
    odd = replace(result.runs[1], name="<b>x</b>.yaml")
    html = render(replace(result, runs=(result.runs[0], odd)))
    assert "<td>&lt;b&gt;x&lt;/b&gt;.yaml</td>" in html and "<b>x</b>.yaml" not in html


def test_without_plotly_the_import_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("plotly", "plotly.graph_objects", "plotly.io", "plotly.offline"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    monkeypatch.delitem(sys.modules, "daemon.backtest.report")
    with pytest.raises(InputError, match=r"pip install 'mexc-rebalancer\[report\]'"):
        importlib.import_module("daemon.backtest.report")


def test_a_result_without_runs_or_points_still_renders() -> None:
    empty = replace(sample_result(1), runs=(), candles=0)
    assert '<table id="summary">' in render(empty)
    one = sample_result(1)
    assert "1 candle replayed" in render(replace(one, runs=(replace(one.runs[0], points=()),)))
