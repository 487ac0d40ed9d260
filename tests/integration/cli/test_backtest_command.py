"""``rebalancer backtest`` end to end: through daemon.cli.main on a small CSV written here, the
README's command in a real subprocess, bad flags (exit 2, a clear message), and a slice of a
real series from ../shared/data (skipped when it is not beside the repository)."""

from __future__ import annotations

import json
import math
import shlex
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.backtest.candles_csv import HEADER
from daemon.cli import main

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000


def write_candles(path: Path, n: int = 600, *, skip: tuple[int, ...] = ()) -> Path:
    """A wave around 0.05 (a 10 % swing every ~8 hours) of ``n`` 5-minute candles."""
    lines = [",".join(HEADER)]
    for i in range(n):
        if i in skip:
            continue
        c = Decimal(repr(round(0.05 * (1 + 0.1 * math.sin(i / 16)), 5)))
        o = Decimal(repr(round(0.05 * (1 + 0.1 * math.sin((i - 1) / 16)), 5)))
        hi, lo = max(o, c) + Decimal("0.0001"), min(o, c) - Decimal("0.0001")
        t = T0 + i * M5
        lines.append(f"{t},{o},{hi},{lo},{c},1000,{t + M5},{c * 1000}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return write_candles(tmp_path / "candles.csv", skip=(100, 101))


def backtest(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["backtest", "-c", str(REPO / "config.yaml"), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_document_on_a_small_file(csv_file: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = backtest(capsys, "--candles", str(csv_file), "--fill", "close",
                              "--balance", "QRL=10000", "--balance", "USDT=500",
                              "--compare", "calendar:24h", "--compare", "symmetric:0.02",
                              "--json")
    assert code == 0, err
    assert err == ""  # no progress bar: stderr is not a terminal (and --json)
    doc = json.loads(out)
    assert (doc["candles"], doc["gaps"], doc["fill_model"]) == (598, 2, "close")
    names = [r["name"] for r in doc["runs"]]
    assert names == ["config", "calendar:24h", "symmetric:0.02", "hold"]
    hold = doc["runs"][3]
    assert (hold["final_base"], hold["final_quote"]) == ("10000", "500")
    assert hold["summary"]["trades"] == 0 and hold["summary"]["return_vs_hold_pts"] == "0"
    sym = doc["runs"][2]["summary"]
    assert sym["trades"] > 0 and Decimal(sym["max_drift_pts"]) < Decimal(
        doc["runs"][3]["summary"]["max_drift_pts"])
    assert sum(doc["runs"][0]["summary"]["reason_counts"].values()) >= 598 // 3


def test_bad_flags_exit_2_with_a_clear_message(csv_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad_csv = tmp_path / "bad.csv"
    row = f"{T0},1,1,1,1,1,{T0 + M5},1"
    bad_csv.write_text("\n".join([",".join(HEADER), row, row]) + "\n")
    cases = [
        (["--balance", "BTC=1"], "--balance BTC=1: expected QRL=QTY or USDT=QTY"),
        (["--balance", "QRL=-5"], "--balance QRL=-5: the quantity must be a number >= 0"),
        (["--start-value", "0"], "--start-value '0': must be a number > 0"),
        (["--balance", "QRL=1", "--start-value", "5"], "give --balance or --start-value"),
        (["--rescale-to", "abc"], "--rescale-to 'abc': not a number"),
        (["--compare", "calendar:1w"], "--compare calendar:1w: the period must look like"),
        (["--compare", "symmetric:2"], "--compare symmetric:2: the threshold must be"),
        (["--compare", "nope.yaml"], "--compare nope.yaml: not hold, calendar:"),
        (["--from", "2023-11-15", "--to", "2023-11-14"], "--to 2023-11-14 is not after"),
        (["--from", "soon"], "--from 'soon': not an ISO date"),
    ]
    for extra, message in cases:
        code, out, err = backtest(capsys, "--candles", str(csv_file), "--fill", "close", *extra)
        assert (code, out) == (2, ""), extra
        assert message in err, (extra, err)
    code, _, err = backtest(capsys, "--candles", str(bad_csv))
    assert code == 2 and f"{bad_csv}:3: open_time_ms {T0} is duplicate" in err
    code, _, err = backtest(capsys, "--candles", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv: file not found" in err
    with pytest.raises(SystemExit) as info:
        main(["backtest", "--candles", str(csv_file), "--fill", "perfect"])
    assert info.value.code == 2
    assert "invalid choice: 'perfect'" in capsys.readouterr().err


def readme_command() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Backtest", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith(".venv/bin/rebalancer backtest")]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_readme_command_runs_as_shown(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    write_candles(tmp_path / "candles.csv")
    argv = shlex.split(readme_command())
    assert argv[0] == ".venv/bin/rebalancer"
    done = subprocess.run([sys.executable, "-m", "daemon", *argv[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("QRLUSDT: 600 candles 2023-11-14 00:00 .. 2023-11-16 02:00 UTC "
                               "(0 missing), fill model sim")
    rows = [ln.split()[0] for ln in lines[3:7]]
    assert rows == ["config", "calendar:24h", "symmetric:0.02", "hold"]
    assert "reason codes (evaluations):" in done.stdout


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the repository")
def test_a_slice_of_a_real_series(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = backtest(capsys, "--candles", str(SHARED / "ADA_BTC-5m.csv"),
                              "--from", "2018-01-12", "--to", "2018-01-15",
                              "--rescale-to", "0.05", "--start-value", "1000",
                              "--compare", "symmetric:0.02", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["start_ms"] == 1515715200000  # 2018-01-12 00:00 UTC
    assert doc["candles"] + doc["gaps"] == 3 * 288
    assert [r["name"] for r in doc["runs"]] == ["config", "symmetric:0.02", "hold"]
    hold = doc["runs"][2]
    assert hold["final_base"] == "10000" and hold["final_quote"] == "500"


def test_compare_another_config_file(csv_file: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "sym5.yaml"
    other.write_text("strategy:\n  name: symmetric\n  threshold: 0.05\nschedule:\n"
                     "  interval_s: 3600\n  evaluate_on_crossover: false\n")
    code, out, err = backtest(capsys, "--candles", str(csv_file), "--fill", "close",
                              "--compare", str(other), "--compare", "symmetric:0.05", "--json")
    assert code == 0, err
    runs = {r["name"]: r for r in json.loads(out)["runs"]}
    assert list(runs) == ["config", "sym5.yaml", "symmetric:0.05", "hold"]
    hourly = sum(runs["sym5.yaml"]["summary"]["reason_counts"].values())
    quarterly = sum(runs["symmetric:0.05"]["summary"]["reason_counts"].values())
    # 50 hours of candles: an evaluation per hour; per 15 min, plus one per crossover
    assert hourly == 50 and quarterly > 200
    broken = tmp_path / "broken.yaml"
    broken.write_text("strategy:\n  ratio: 2\n")
    code, out, err = backtest(capsys, "--candles", str(csv_file), "--compare", str(broken))
    assert (code, out) == (2, "")
    assert f"--compare {broken}: {broken}: 1 problem(s)" in err and "strategy.ratio" in err
