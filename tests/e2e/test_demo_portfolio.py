"""README: ``./scripts/demo --portfolio``, the three-asset basket (QRL, BTC and ETH against USDT)
against the simulator's basket, run as shown until the first rebalance has sold and bought,
then Ctrl-C: the daemon stopped cleanly, the state summary gives every asset's trades."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUY_DONE = re.compile(r"SELL legs final; .*\n(?:.*\n)*?.*order done: FILLED")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pty-less "
                                "process group, as on the README's machine")


def test_the_readme_portfolio_demo_sells_then_buys(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "./scripts/demo --portfolio" in readme
    out = tmp_path / "out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(["./scripts/demo", "--portfolio"], cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                start_new_session=True, env=dict(os.environ,
                                                                 TMPDIR=str(tmp_path)))
    try:
        deadline = time.monotonic() + 150
        while not BUY_DONE.search(out.read_text()):
            assert proc.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C
        code = proc.wait(timeout=60)
    text = out.read_text()
    assert code == 0, text[-3000:]
    assert ("targets QRL 30%, BTC 20%, ETH 20%)") in text
    legs = re.findall(r"portfolio_engine: (\w+USDT): (SELL|BUY) ", text)
    first = legs[:3]  # the first evaluation: QRL under its target, BTC and ETH over theirs
    assert sorted(first) == [("BTCUSDT", "SELL"), ("ETHUSDT", "SELL"), ("QRLUSDT", "BUY")]
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("demo: stopped (daemon exit 0); ")
    workdir = Path(last.rsplit(" in ", 1)[1])
    summary = json.loads((workdir / "state-summary.json").read_text())
    assert summary["daemon"]["state"] == "stopped"
    assets = summary["assets"]
    assert set(assets) == {"QRL", "BTC", "ETH"}
    assert all(a["counters"]["trades_total"] >= 1 for a in assets.values()), assets
    assert Decimal(summary["total"]["total_value"]) > 0
