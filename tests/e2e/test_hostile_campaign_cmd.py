"""The README's hostile-campaign command, run as shown (in a temporary folder): one case, a real
daemon process against a simulator whose first account answer says every balance is 1e300.
The campaign prints its table and totals and writes its JSON; this daemon asks again and
survives, with its books agreeing with the exchange."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOWN = ".venv/bin/python bench/hostile_campaign.py --only"


def readme_command() -> list[str]:
    (line,) = [x for x in (REPO / "README.md").read_text().splitlines()
               if x.startswith(SHOWN)]
    return shlex.split(line)


def test_the_readme_hostile_campaign_command(tmp_path: Path) -> None:
    argv = readme_command()
    argv[0], argv[1] = sys.executable, str(REPO / argv[1])  # this venv, this checkout
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "totals per class:" in done.stdout
    report = json.loads((tmp_path / "hostile.json").read_text())
    assert report["totals"] == {"survived": 1}, report
    (case,) = report["cases"]
    assert case["case"] == "GET /api/v3/account balances_huge once"
    assert (case["klass"], case["flags"], case["ready"], case["exit"]) == (
        "survived", [], True, 0)
    assert case["orders_sent"] >= 1  # it traded during the run
    assert case["fills_booked"] == case["exchange_fills"] >= 1
