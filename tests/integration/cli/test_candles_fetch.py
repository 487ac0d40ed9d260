"""``rebalancer candles fetch`` (issue 13) against the project's simulator over real HTTP, with
its real-MEXC kline behaviour (at most 500 rows, startTime needs endTime, endTime exclusive):
the closed candles of the range, in the CSV layout of ../shared/data, equal to the exchange's
own rows; gaps of the exchange counted, never filled in; bad flags exit 2 before any request.
The README's command is run as the README shows it."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shlex
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.commands.candles import HEADER
from daemon.sim import RandomWalkMarket, ReplayMarket, SimConfig, Simulator

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
STEP = 300_000
DAY = 86_400_000


async def fetch(*argv: str) -> int:
    return await asyncio.to_thread(main, ["candles", "fetch", *argv])


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == HEADER
    return rows[1:]


async def test_two_days_of_5m_candles_are_the_exchanges_closed_rows(
        sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qrl.csv"
    before = sim.now_ms()
    code = await fetch("--symbol", "QRLUSDT", "--interval", "Min5", "--days", "2", "-o",
                       str(out), "--rest-url", sim.rest_url)
    after = sim.now_ms()
    printed = capsys.readouterr()
    assert code == 0, printed.err
    rows = read_rows(out)
    assert len(rows) == 576
    opens = [int(r[0]) for r in rows]
    end = opens[-1] + STEP  # exclusive: the forming candle's open when the range was read
    assert before // STEP * STEP <= end <= after  # the newest closed candle, no forming one
    assert opens == list(range(end - 2 * DAY, end, STEP))
    assert all(int(r[6]) == int(r[0]) + STEP for r in rows)
    truth = sim.markets["QRLUSDT"].klines("5m", after, start_ms=opens[0], end_ms=end - 1,
                                          limit=1000)
    assert [(int(r[0]), Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4]),
             Decimal(r[5])) for r in rows] == \
           [(b.open_ms, b.open, b.high, b.low, b.close, b.volume) for b in truth]
    assert "wrote 576 closed Min5 candles of QRLUSDT" in printed.out
    assert "2 requests" in printed.out and "no gaps" in printed.out
    assert os.listdir(tmp_path) == ["qrl.csv"]  # no temp file left


def replay_file(path: Path, n: int, hole: range) -> list[int]:
    """``n`` 5-minute candles from a round time, the candles of ``hole`` left out."""
    t0 = 1_600_000_200_000 // STEP * STEP
    opens = [t0 + i * STEP for i in range(n) if i not in hole]
    with path.open("w") as fh:
        fh.write(",".join(HEADER) + "\n")
        for t in opens:
            fh.write(f"{t},0.05,0.051,0.049,0.0505,1000,{t + STEP},50.5\n")
    return opens


async def test_gaps_of_the_exchange_are_counted_not_invented(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "holey.csv"
    opens = replay_file(data, 500, range(200, 203))
    cfg = SimConfig(seed=1, speed=1.0, market=ReplayMarket(data, start_index=396))
    out = tmp_path / "got.csv"
    async with Simulator(cfg, port=0) as sim:
        code = await fetch("--symbol", "QRLUSDT", "--days", "1", "-o", str(out),
                           "--rest-url", sim.rest_url)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    # the sim starts at candle 396's open (the 399th row, 3 are missing): 288 candles back
    # from there, three of them never traded
    expected = [t for t in opens if opens[396] - DAY <= t < opens[396]]
    assert len(expected) == 285
    assert [int(r[0]) for r in read_rows(out)] == expected
    assert "3 candles missing at the exchange in 1 gap(s), left as gaps" in printed.out


@pytest.mark.parametrize(("flags", "message"), [
    (["--days", "0"], "--days must be within 1..3650, got 0"),
    (["--interval", "Min7"], "--interval Min7: unknown kline interval 'Min7'"),
    (["--interval", "Hour8"], "--interval Hour8: Hour8 exists on the websocket but MEXC REST"),
    (["--interval", "Month1"], "--interval Month1: Month1: calendar months"),
    (["--symbol", "QRL/USDT"], "--symbol 'QRL/USDT': expected a MEXC pair"),
    (["--rest-url", "api.mexc.com"], "--rest-url 'api.mexc.com': Value error, must start"),
    (["-o", "{tmp}/missing/x.csv"], "the directory {tmp}/missing does not exist"),
    (["-o", "{tmp}"], "is a directory"),
    (["-o", "{tmp}/old.csv"], "old.csv: exists; pass --force to replace it"),
])
def test_bad_flags_exit_2_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          flags: list[str], message: str) -> None:
    (tmp_path / "old.csv").write_text("mine\n")
    argv = ["--symbol", "QRLUSDT", "-o", str(tmp_path / "new.csv"),
            "--rest-url", "http://127.0.0.1:9", *(f.format(tmp=tmp_path) for f in flags)]
    code = main(["candles", "fetch", *argv])  # port 9: any request would fail, exit 1
    err = capsys.readouterr().err
    assert code == 2 and message.format(tmp=tmp_path) in err, err
    assert (tmp_path / "old.csv").read_text() == "mine\n"
    assert not (tmp_path / "new.csv").exists()


async def test_an_unknown_symbol_and_an_existing_file_with_force(
        sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.csv"
    out.write_text("old\n")
    code = await fetch("--symbol", "NOPEUSDT", "--days", "1", "-o", str(out), "--force",
                       "--rest-url", sim.rest_url)
    assert code == 2 and "--symbol NOPEUSDT:" in capsys.readouterr().err
    assert out.read_text() == "old\n"
    code = await fetch("--symbol", "qrlusdt", "--days", "1", "-o", str(out), "--force",
                       "--rest-url", sim.rest_url)
    assert code == 0 and len(read_rows(out)) == 288


def readme_fetch_command() -> list[str]:
    text = README.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if re.match(r"\S*rebalancer candles fetch ", ln)]
    assert len(lines) == 1, lines
    return shlex.split(lines[0].split("#")[0])


async def test_the_readme_command_downloads_30_days(tmp_path: Path) -> None:
    """The README's line as shown, with the simulator's url added (no internet here)."""
    argv = readme_fetch_command()
    assert argv[0].endswith("rebalancer")
    market = RandomWalkMarket(history_candles=30 * 1440 + 60)
    async with Simulator(SimConfig(seed=3, speed=60.0, market=market), port=0) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon", *argv[1:], "--rest-url", sim.rest_url,
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert os.listdir(tmp_path) == [argv[argv.index("-o") + 1]]
    assert len(read_rows(tmp_path / argv[argv.index("-o") + 1])) == 30 * 288
    assert b"wrote 8640 closed Min5 candles of QRLUSDT" in out and b"no gaps" in out


def test_an_exchange_that_cannot_be_reached_exits_1_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.csv"
    code = main(["candles", "fetch", "--symbol", "QRLUSDT", "-o", str(out),
                 "--rest-url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 1 and "error: GET /api/v3/time: cannot connect" in err, err
    assert list(tmp_path.iterdir()) == []


async def test_a_config_gives_the_rest_url_symbol_and_interval(
        sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"symbol: QRLUSDT\nexchange:\n  rest_url: {sim.rest_url}\n"
                   "  kline_interval: Min15\n")
    out = tmp_path / "c.csv"
    code = await fetch("-c", str(cfg), "--days", "1", "-o", str(out))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    opens = [int(r[0]) for r in read_rows(out)]
    assert len(opens) == 96 and opens == list(range(opens[0], opens[0] + DAY, 900_000))
    assert "wrote 96 closed Min15 candles of QRLUSDT" in printed.out
