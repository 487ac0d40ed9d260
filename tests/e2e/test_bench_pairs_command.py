"""The README's `./scripts/bench pairs`, run as shown from the checkout: the many-pairs bench
(the simulator, one follower process per pair count, the bare client) ends with the summary
table's two verdicts, each figure next to the floor of the same run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOWN = "./scripts/bench pairs"


def test_the_readme_pairs_bench_ends_with_its_two_verdicts() -> None:
    assert SHOWN in (REPO / "README.md").read_text().splitlines()
    done = subprocess.run(SHOWN.split(), cwd=REPO, capture_output=True, text=True, timeout=300)
    out = done.stdout
    said = f"{out[-3000:]}\n{done.stderr[-2000:]}"  # shown when an assertion fails
    assert done.returncode in (0, 1), said
    # one row per point: 0 (the floor), 1, 10, 25, 50 pairs on 0, 1, 1, 2, 4 connections
    points = re.findall(r"^\s+(\d+)\s+(\d+)\s+([\d.]+) ", out, re.M)
    assert [(int(n), int(c)) for n, c, _ in points] == [(0, 0), (1, 1), (10, 1), (25, 2),
                                                         (50, 4)], said
    summary = out.split("=== summary", 1)[1].splitlines()
    rows = [x.split(" | ") for x in summary if x.startswith("| market hub")]
    assert [r[0] for r in rows] == ["| market hub RSS per added pair (fitted slope)",
                                    "| market hub CPU at 50 pairs, MEXC's push rate"]
    rss, cpu = rows
    assert rss[1].endswith(" KB/pair") and rss[2].endswith(" MB RSS with no pair")
    assert rss[5] == "<= 1 MB/pair (slope + 2 se)"
    assert " % of one core (worst round) at " in cpu[1]
    assert cpu[2].endswith(" % bare receive + decode") and cpu[5] == "<= 5 % of one core"
    pushes = float(cpu[1].split(" at ")[1].split()[0].replace(",", ""))
    assert pushes >= 0.8 * 50 * 11 or "BELOW MEXC's" in cpu[1]
    verdicts = [r[6].rstrip(" |") for r in rows]
    assert set(verdicts) <= {"MET", "NOT MET"}
    assert done.returncode == (0 if verdicts == ["MET", "MET"] else 1), said
