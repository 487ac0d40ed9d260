"""``rebalancer backtest`` with a portfolio config: the README's command in a real subprocess
(on the fixture files of tests/support/candles), bad flags and files (exit 2, the flag, file
and line named), a one-asset portfolio printing the single-pair figures, and the real series of
../shared/data (skipped when it is not beside the repository) checked for invariants."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.backtest.candles_csv import HEADER
from daemon.backtest.portfolio_input import PortfolioFlags, build_portfolio_replay
from daemon.backtest.portfolio_report import CHART_IDS
from daemon.backtest.portfolio_result import PortfolioResult
from daemon.backtest.portfolio_runner import run_portfolio
from daemon.backtest.spec import from_settings, parse_compare
from daemon.cli import main
from daemon.config import load_config
from tests.support.browser import census
from tests.support.browser import render as render_in_browser

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "support" / "candles"
SHARED = REPO.parent / "shared" / "data"
BASKET = "portfolio:\n  quote: USDT\n  targets: {QRL: 0.25, BTC: 0.25}\n"
T0 = 1_699_920_000_000
M5 = 300_000


def readme_command() -> tuple[str, str]:
    """The basket config of "A basket of several assets" and the command of "Backtest of a
    portfolio"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    basket = text.split("### A basket of several assets", 1)[1].split("```yaml\n", 1)[1]
    section = text.split("### Backtest of a portfolio", 1)[1].split("\n#", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith(".venv/bin/rebalancer backtest")]
    assert len(lines) == 1, lines
    return basket.split("```", 1)[0], lines[0]


def test_the_readme_portfolio_command_runs_as_shown(tmp_path: Path) -> None:
    config, command = readme_command()
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/rebalancer"
    (tmp_path / argv[argv.index("-c") + 1]).write_text(config)
    for value in (v for i, v in enumerate(argv) if argv[i - 1] == "--candles"):
        name = value.split("=", 1)[1]
        shutil.copy(FIXTURES / name, tmp_path / name)
    done = subprocess.run([sys.executable, "-m", "daemon", *argv[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # QRL opens slots 0..399, BTC 24..423 without 150..152: 373 times in common, 3 missing
    assert lines[0].startswith("portfolio QRLUSDT, BTCUSDT: 373 aligned candles 2023-11-14 "
                               "02:00 .. 2023-11-15 09:20 UTC (3 missing), fill model sim")
    assert [ln.split()[0] for ln in lines[3:5]] == ["config", "hold"]
    assert "  QRLUSDT: qrlusdt-5m.csv: 400 candles, 0 missing in the file, 27 left out" \
        in done.stdout
    assert "  BTCUSDT: btcusdt-5m.csv: 397 candles, 3 missing in the file, 24 left out" \
        in done.stdout
    per_asset = [ln.split()[0] for ln in lines if ln.startswith(("QRL ", "BTC "))]
    assert per_asset == ["QRL", "BTC", "QRL", "BTC"]  # config, then hold


def backtest(capsys: pytest.CaptureFixture[str], config: Path, *argv: str
             ) -> tuple[int, str, str]:
    code = main(["backtest", "-c", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def basket(tmp_path: Path) -> Path:
    path = tmp_path / "basket.yaml"
    path.write_text(BASKET)
    return path


def test_the_json_document_adds_up(basket: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = backtest(capsys, basket, "--candles", f"QRLUSDT={FIXTURES / 'qrlusdt-5m.csv'}",
                              "--candles", f"BTC={FIXTURES / 'btcusdt-5m.csv'}",
                              "--balance", "QRL=10000", "--balance", "USDT=1000",
                              "--fill", "close", "--compare", "symmetric:0.02", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["portfolio"], doc["candles"], doc["missing"]) == (True, 373, 3)
    assert [(p["pair"], p["gaps"], p["dropped"]) for p in doc["pairs"]] == [
        ("QRLUSDT", 0, 27), ("BTCUSDT", 3, 24)]
    runs = {r["name"]: r for r in doc["runs"]}
    assert list(runs) == ["config", "symmetric:0.02", "hold"]
    hold = runs["hold"]
    assert [(a["asset"], a["final_qty"], a["trades"]) for a in hold["assets"]] == [
        ("QRL", "10000", 0), ("BTC", "0", 0)]
    sym = runs["symmetric:0.02"]
    # no BTC at the start: the first evaluation sells QRL and buys BTC
    assert all(a["trades"] > 0 for a in sym["assets"])
    for run in doc["runs"]:
        total = run["total"]
        parts = sum((Decimal(a["final_value"]) for a in run["assets"]),
                    Decimal(total["final_quote"]))
        assert abs(parts - Decimal(total["final_value"])) <= Decimal("0.0000001")
        assert total["trades"] == sum(a["trades"] for a in run["assets"])


def test_a_one_asset_portfolio_prints_the_single_pair_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single = tmp_path / "single.yaml"
    single.write_text("symbol: QRLUSDT\nstrategy:\n  ratio: 0.5\n")
    one = tmp_path / "one.yaml"
    one.write_text("portfolio:\n  targets: {QRL: 0.5}\n")
    qrl = str(FIXTURES / "qrlusdt-5m.csv")
    flags = ("--start-value", "1000", "--compare", "symmetric:0.02", "--compare", "calendar:1h",
             "--json")
    code, out, err = backtest(capsys, single, "--candles", qrl, *flags)
    assert code == 0, err
    want = json.loads(out)
    code, out, err = backtest(capsys, one, "--candles", f"QRLUSDT={qrl}", *flags)
    assert code == 0, err
    got = json.loads(out)
    assert got["candles"] == want["candles"] == 400
    assert sum(r["summary"]["trades"] for r in want["runs"]) > 5
    for w, g in zip(want["runs"], got["runs"], strict=True):
        s, total, (asset,) = w["summary"], g["total"], g["assets"]
        assert g["name"] == w["name"]
        for name in ("trades", "fees_quote", "turnover_quote", "final_value", "return_pct",
                     "return_vs_hold_pts", "max_drawdown_pct", "avg_drift_pts",
                     "max_drift_pts"):
            assert total[name] == s[name], (w["name"], name)
        assert (asset["final_qty"], total["final_quote"]) == (w["final_base"], w["final_quote"])
        assert asset["reason_counts"] == s["reason_counts"]


def test_bad_flags_and_files_exit_2_naming_them(basket: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    qrl, btc = f"QRLUSDT={FIXTURES / 'qrlusdt-5m.csv'}", f"BTCUSDT={FIXTURES / 'btcusdt-5m.csv'}"
    broken = tmp_path / "broken.csv"
    broken.write_text(",".join(HEADER) + f"\n{T0},1,1,1,1,1,{T0 + M5},1\n{T0 + M5},1,2,1\n")
    minute = tmp_path / "minute.csv"
    minute.write_text(",".join(HEADER) + f"\n{T0},1,1,1,1,1,{T0 + 60_000},1\n")
    far = tmp_path / "far.csv"
    far.write_text(",".join(HEADER) + f"\n{T0 - 10 * M5},1,1,1,1,1,{T0 - 9 * M5},1\n")
    cases = [
        (["--candles", str(FIXTURES / "qrlusdt-5m.csv"), "--candles", btc],
         "with a portfolio config give --candles PAIR=FILE per pair, e.g. --candles "
         "QRLUSDT=FILE"),
        (["--candles", qrl], "--candles: no file for BTCUSDT"),
        (["--candles", qrl, "--candles", btc, "--candles", "ETHUSDT=x.csv"],
         "--candles ETHUSDT=x.csv: ETHUSDT is not a pair of portfolio.targets "
         "(QRLUSDT, BTCUSDT)"),
        (["--candles", qrl, "--candles", btc, "--candles", "qrl=y.csv"],
         "--candles qrl=y.csv: QRLUSDT is given twice"),
        (["--candles", qrl, "--candles", f"BTCUSDT={tmp_path / 'nope.csv'}"],
         "nope.csv: file not found"),
        (["--candles", qrl, "--candles", f"BTCUSDT={broken}"],
         f"{broken}:3: expected 8 fields, got 4"),
        (["--candles", qrl, "--candles", f"BTCUSDT={minute}"],
         "interval 60000 ms differs"),
        (["--candles", qrl, "--candles", f"BTCUSDT={far}"], "the files share no candle time"),
        (["--candles", qrl, "--candles", btc, "--rescale-to", "0.05"],
         "--rescale-to 0.05: with a portfolio config give --rescale-to PAIR=PRICE"),
        (["--candles", qrl, "--candles", btc, "--rescale-to", "BTCUSDT=-1"],
         "--rescale-to BTCUSDT= '-1': must be a number > 0"),
        (["--candles", qrl, "--candles", btc, "--balance", "ETH=1"],
         "--balance ETH=1: expected QRL=QTY or BTC=QTY or USDT=QTY"),
        (["--candles", qrl, "--candles", btc, "--balance", "QRL=1", "--start-value", "5"],
         "give --balance or --start-value, not both"),
        (["--candles", qrl, "--candles", btc, "--balance", "USDT=0"],
         "the starting portfolio is empty"),
    ]
    for argv, message in cases:
        code, out, err = backtest(capsys, basket, "--fill", "close", *argv)
        assert (code, out) == (2, ""), argv
        assert message in err, (argv, err)


def real_series_run(tmp: Path) -> tuple[PortfolioResult, dict[str, Decimal], Decimal]:
    """ADA/BTC, LTC/BTC and ETH/BTC of ../shared/data as QRLUSDT, BTCUSDT and ETHUSDT
    (rescaled), the repository's strategy and limits with a three-asset portfolio."""
    files = {"QRLUSDT": "ADA_BTC-5m.csv", "BTCUSDT": "LTC_BTC-5m.csv",
             "ETHUSDT": "ETH_BTC-5m.csv"}
    prices = {"QRLUSDT": "0.05", "BTCUSDT": "95000", "ETHUSDT": "3300"}
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("symbol: QRLUSDT", "").replace("  ratio: 0.5 ", "  # ratio")
    text += "\nportfolio:\n  quote: USDT\n  targets: {QRL: 0.3, BTC: 0.3, ETH: 0.2}\n"
    (tmp / "basket.yaml").write_text(text)
    settings = load_config(tmp / "basket.yaml")
    assert settings.portfolio is not None
    flags = PortfolioFlags([f"{p}={SHARED / f}" for p, f in files.items()],
                           [f"{p}={v}" for p, v in prices.items()], [], "10000", None, None,
                           200, "sim", Decimal(10000))
    replay = build_portfolio_replay(flags, settings.portfolio)
    spec = from_settings("config", settings)
    result = run_portfolio(replay, [spec, parse_compare("symmetric:0.02", spec)])
    start = {leg.asset: leg.start_base for leg in replay.legs}
    return result, start, replay.start_quote


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the repository")
def test_the_real_series_keep_the_books_consistent(tmp_path: Path) -> None:
    result, start, start_quote = real_series_run(tmp_path)
    assert (result.candles, result.missing) == (5720, 40)  # ADA/BTC has 40 missing candles
    assert [(p.gaps, p.dropped) for p in result.pairs] == [(40, 0), (0, 40), (0, 40)]
    reserve = Decimal(0)  # risk.usdt_reserve of config.yaml
    for run in result.runs:
        data = run.data
        trades = sorted(((t.time_ms, t.side == "BUY", leg.asset, t) for leg in data.legs
                         for t in leg.trades), key=lambda x: (x[0], x[1]))
        quote = start_quote
        for _, is_buy, asset, t in trades:
            if is_buy:  # every BUY within what was spendable when it went out
                assert t.quote <= quote - reserve, (run.name, asset, t)
                quote -= t.quote
            else:  # a SELL's fee is paid in the quote it receives
                quote += t.quote - t.fee_quote
            assert quote >= 0
        assert quote == data.final_quote, run.name
        assert all(leg.final_qty >= 0 for leg in data.legs)
        assert all(w >= 0 for p in data.points for w in p.weights)
        last = data.points[-1]
        held = sum((leg.final_qty * c for leg, c in zip(data.legs, last.closes, strict=True)),
                   Decimal(0))
        assert last.value == data.final_quote + held  # value = quote + sum q * price
        if run.name != "hold":
            assert run.total.trades > 0
            assert all(s.trades > 0 for s in run.legs), run.name
    hold = result.runs[-1]
    assert [leg.final_qty for leg in hold.data.legs] == [start[a] for a in start]


def test_from_and_to_cut_every_series(basket: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = backtest(capsys, basket, "--candles", f"QRLUSDT={FIXTURES / 'qrlusdt-5m.csv'}",
                              "--candles", f"BTCUSDT={FIXTURES / 'btcusdt-5m.csv'}",
                              "--from", "2023-11-14T04:00", "--to", "2023-11-14T08:00",
                              "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["candles"], doc["missing"]) == (48, 0)  # 4 hours of 5-minute candles
    assert (doc["start_ms"], doc["end_ms"]) == (T0 + 48 * M5, T0 + 96 * M5)
    assert [(p["candles"], p["dropped"]) for p in doc["pairs"]] == [(48, 0), (48, 0)]


def test_the_report_of_a_basket_is_drawn_by_a_browser(basket: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``--report DIR`` with a portfolio config: the page opened in a real headless Chromium
    draws the value and drift of every run and each asset's share, with both tables."""
    out_dir = tmp_path / "report"
    code, out, err = backtest(capsys, basket, "--candles", f"QRLUSDT={FIXTURES / 'qrlusdt-5m.csv'}",
                              "--candles", f"BTCUSDT={FIXTURES / 'btcusdt-5m.csv'}",
                              "--compare", "symmetric:0.02", "--report", str(out_dir))
    assert code == 0, err
    page = out_dir / "index.html"
    assert f"report written to {page}" in out
    shown = render_in_browser(page, tmp_path)
    drawn = census(shown.dom, CHART_IDS)
    assert drawn.traces["chart-value"] == 3  # config, symmetric:0.02, hold
    assert drawn.traces["chart-drift"] == 3
    assert drawn.traces["chart-weights"] == 2  # QRL and BTC of the config's run
    assert all(drawn.svgs[chart] >= 1 for chart in CHART_IDS)
    assert '<table id="summary">' in shown.dom and '<table id="assets">' in shown.dom
    assert "<td>hold</td><td>BTC</td>" in shown.dom
    (out_dir / "index.html").write_text("not ours")  # a file it did not write stays
    code, out, err = backtest(capsys, basket, "--candles", f"QRLUSDT={FIXTURES / 'qrlusdt-5m.csv'}",
                              "--candles", f"BTCUSDT={FIXTURES / 'btcusdt-5m.csv'}",
                              "--fill", "close", "--report", str(out_dir))
    assert (code, out) == (2, "") and "is not a backtest report" in err
    assert page.read_text() == "not ours"
