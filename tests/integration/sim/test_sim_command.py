"""``rebalancer sim`` as a process: prints its URLs, serves, stops cleanly on SIGTERM/SIGINT;
bad arguments exit 2 with a message naming the problem."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from daemon.cli import main
from tests.support.sim_process import start_sim


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serves_and_stops_on_signal(sig: signal.Signals) -> None:
    proc, rest = await start_sim("--balance", "USDT=123.5", "--seed", "3")
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{rest}/ping") as r:
            assert r.status == 200 and await r.json() == {}
    finally:
        proc.send_signal(sig)
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0 and b"simulator stopped" in out


async def test_replay_from_the_command_line(shared_data: Path) -> None:
    proc, rest = await start_sim("--replay", str(shared_data / "ETH_BTC-5m.csv"), "--rescale",
                              "0.5", "--start-index", "100")
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{rest}/klines",
                         params={"symbol": "QRLUSDT", "interval": "5m", "limit": "1000"}
                         ) as r:
            rows = await r.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert rows[0][0] == 1515560100000 and len(rows) in (101, 102)
    assert rows[0][1] == "0.0492"  # 0.0984 rescaled by 0.5


@pytest.mark.parametrize(("args", "message"), [
    (["--balance", "USDT"], "expected ASSET=QTY"),
    (["--balance", "USDT=abc"], "not a number"),
    (["--fault-5xx", "1.5"], "http_5xx_rate must be within 0..1"),
    (["--speed", "0"], "speed must be > 0"),
    (["--replay", "/nonexistent.csv"], "no such file"),
    (["--rescale", "2"], "--rescale only applies with --replay"),
    (["--partial-fill", "0"], "partial_fill_ratio"),
])
def test_bad_arguments_exit_2(args: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--port", "0", *args]) == 2
    assert message in capsys.readouterr().err
