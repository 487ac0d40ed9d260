"""``rebalancer sim --basket`` and ``--symbols FILE`` (README: The simulator with several
symbols): the README's commands run as shown (on a free port), its YAML example served;
every bad value exits 2 naming its key."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.cli import main

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### The simulator with several symbols\n")
    return text[start:text.index("\n## ", start + 1)]


def readme_commands() -> list[list[str]]:
    return [shlex.split(ln) for ln in readme_section().splitlines()
            if ln.startswith(".venv/bin/rebalancer sim ")]


async def _serve(argv: list[str], cwd: Path) -> tuple[asyncio.subprocess.Process, list[str]]:
    assert argv[0] == ".venv/bin/rebalancer"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon", *argv[1:], "--port", "0", cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(5)]
    assert lines[0].startswith("REST http://127.0.0.1:"), lines
    return proc, lines


async def _ask(rest: str) -> tuple[dict[str, Any], list[Any]]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rest}/exchangeInfo") as r:
            info = await r.json()
        async with s.get(f"{rest}/klines", params={"symbol": "ETHUSDT", "interval": "5m",
                                                   "limit": "3"}) as r:
            rows = await r.json()
    return info, rows


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0


async def test_the_readme_basket_command(tmp_path: Path) -> None:
    argv = readme_commands()[0]
    assert argv[1:] == ["sim", "--basket"]
    proc, lines = await _serve(argv, tmp_path)
    try:
        info, rows = await _ask(lines[0].split()[1])
    finally:
        await _stop(proc)
    assert re.fullmatch(r"symbols QRLUSDT 0\.0\d+  BTCUSDT \d+(\.\d+)?  ETHUSDT \d+(\.\d+)?\n",
                        lines[3]), lines
    assert [(s["symbol"], s["baseAssetPrecision"], s["quotePrecision"]) for s in
            info["symbols"]] == [("QRLUSDT", 2, 5), ("BTCUSDT", 6, 2), ("ETHUSDT", 5, 2)]
    assert len(rows) == 3 and all(1000 < float(r[4]) < 10000 for r in rows)


async def test_the_readme_symbols_file(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", readme_section(), re.S)
    assert block is not None
    (tmp_path / "symbols.yaml").write_text(block.group(1))
    argv = readme_commands()[1]
    assert argv[1:] == ["sim", "--symbols", "symbols.yaml"]
    proc, lines = await _serve(argv, tmp_path)
    try:
        info, rows = await _ask(lines[0].split()[1])
    finally:
        await _stop(proc)
    got = {s["symbol"]: (s["status"], s["baseAssetPrecision"], s["quotePrecision"],
                         s["baseSizePrecision"]) for s in info["symbols"]}
    assert got == {"QRLUSDT": ("1", 2, 5, "0.01"), "ETHUSDT": ("1", 5, 2, "0.00001"),
                   "XYZUSDT": ("2", 2, 4, "0.01")}
    assert rows and all(1000 < float(r[4]) < 10000 for r in rows)


def _symbols_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "symbols.yaml"
    path.write_text(text)
    return str(path)


GOOD = "  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT}\n"


@pytest.mark.parametrize(("text", "message"), [
    ("symbols: []\n", "symbols: lists no symbol"),
    ("symbol: []\n", "symbol: unknown field"),
    ("symbols: [\n", "not valid YAML"),
    ("symbols:\n" + GOOD + GOOD, "symbols[1].symbol: QRLUSDT is listed twice"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL}\n", "symbols[0].quote_asset: missing"),
    ("symbols:\n  - {symbol: qrlusdt, base_asset: QRL, quote_asset: USDT}\n",
     "symbols[0].symbol: expected UPPERCASE"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, colour: red}\n",
     "symbols[0].colour: unknown field"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, status: 5}\n",
     "symbols[0].status: expected 1 (online), 2 (paused) or 3 (offline), got 5"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, "
     "base_precision: 20}\n", "symbols[0].base_precision: must be between 0 and 18"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, min_qty: -1}\n",
     "symbols[0].min_qty: must be >= 0"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, taker_fee: x}\n",
     "symbols[0].taker_fee: not a decimal number"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, "
     "spot_trading_allowed: no-ish}\n", "symbols[0].spot_trading_allowed: expected true"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, start_price: 0}\n",
     "symbols[0].start_price: must be positive"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, rescale: 2}\n",
     "symbols[0].rescale: only applies with replay"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: USDT, replay: no.csv}\n",
     "symbols[0].replay: no such file"),
    ("symbols:\n  - {symbol: QRLUSDT, base_asset: QRL, quote_asset: QRL}\n",
     "base_asset and quote_asset are both 'QRL'"),
    ("symbols:\n" + GOOD + "balances: {usdt: 5}\n", "balances.usdt: an asset is UPPERCASE"),
    ("symbols:\n" + GOOD + "balances: {USDT: -5}\n", "balances.USDT: must be >= 0"),
])
def test_bad_symbols_files_exit_2(tmp_path: Path, text: str, message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _symbols_file(tmp_path, text)
    assert main(["sim", "--port", "0", "--symbols", path]) == 2
    err = capsys.readouterr().err
    assert message in err and "--symbols" in err, err


def test_a_replayed_pair_beside_a_main_one_that_starts_elsewhere_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "late.csv"
    csv.write_text("open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume\n" + "".join(
        f"{4_000_000_000_000 + i * 300_000},1,1,1,1,1,{4_000_000_300_000 + i * 300_000},1\n"
        for i in range(3)))
    path = _symbols_file(tmp_path, "symbols:\n" + GOOD + "  - {symbol: LATEUSDT, base_asset: "
                         "LATE, quote_asset: USDT, replay: late.csv}\n")
    assert main(["sim", "--port", "0", "--symbols", path]) == 2
    assert "symbol 'LATEUSDT': its candles" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--basket", "--replay", "x.csv"], "--replay applies to the single pair; with --basket"),
    (["--basket", "--start-price", "2"], "--start-price applies to the single pair"),
    (["--basket", "--rescale", "2"], "--rescale applies to the single pair"),
    (["--symbols", "/nonexistent.yaml"], "--symbols /nonexistent.yaml: cannot read it"),
    (["--basket", "--balance", "BTC=x"], "--balance 'BTC=x': 'x' is not a number"),
])
def test_bad_arguments_exit_2(args: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--port", "0", *args]) == 2
    assert message in capsys.readouterr().err


def test_basket_and_symbols_together_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", "--port", "0", "--basket", "--symbols", "x.yaml"])
    assert exited.value.code == 2
    assert "not allowed with argument --basket" in capsys.readouterr().err


def test_basket_balances_take_balance_overrides() -> None:
    from daemon.cli import build_parser
    from daemon.commands.sim import build_config

    args = build_parser().parse_args(["sim", "--basket", "--balance", "BTC=1"])
    cfg = build_config(args)
    assert cfg.balances == {"QRL": "10000", "BTC": "1", "ETH": "0.15", "USDT": "500"}
    assert [s.symbol for s in cfg.symbols()] == ["QRLUSDT", "BTCUSDT", "ETHUSDT"]


async def test_a_symbols_file_of_replays(tmp_path: Path, shared_data: Path) -> None:
    (tmp_path / "symbols.yaml").write_text(
        "symbols:\n"
        f"  - {{symbol: ETHUSDT, base_asset: ETH, quote_asset: USDT, quote_precision: 2,\n"
        f"     replay: {shared_data / 'ETH_BTC-5m.csv'}, rescale: 30000}}\n"
        f"  - {{symbol: LTCUSDT, base_asset: LTC, quote_asset: USDT, quote_precision: 2,\n"
        f"     replay: {shared_data / 'LTC_BTC-5m.csv'}, rescale: 30000}}\n")
    proc, lines = await _serve([".venv/bin/rebalancer", "sim", "--symbols", "symbols.yaml",
                                "--start-index", "100"], tmp_path)
    rest = lines[0].split()[1]
    try:
        async with aiohttp.ClientSession() as s:
            got = {}
            for symbol in ("ETHUSDT", "LTCUSDT"):
                async with s.get(f"{rest}/klines", params={
                        "symbol": symbol, "interval": "5m", "limit": "1000"}) as r:
                    got[symbol] = await r.json()
    finally:
        await _stop(proc)
    # both series start at the files' first candle and reach the same simulated now
    assert [r[0] for r in got["ETHUSDT"]] == [r[0] for r in got["LTCUSDT"]]
    assert got["ETHUSDT"][0][0] == 1515560100000 and len(got["ETHUSDT"]) in (101, 102)
    assert got["ETHUSDT"][0][1] == "2952"  # 0.0984 x 30000
    assert got["LTCUSDT"][0][1] == "507.97"  # 0.0169325 x 30000, rounded down
