"""The README's `./scripts/bench ingest`, run as shown from the checkout: the ingest bench with
its quick settings, then the summary table with one verdict per target, the exit status saying
whether every target was met. (The full `./scripts/bench` takes minutes: it is a bench, not a
test; it runs the same code for every bench.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOWN = "./scripts/bench ingest"


def test_the_readme_bench_command_ends_with_the_summary_table() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert SHOWN in lines and "./scripts/bench" in lines
    done = subprocess.run(SHOWN.split(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    summary = done.stdout.split("=== summary", 1)[1].splitlines()
    head = next(x for x in summary if x.startswith("| measure"))
    assert head == "| measure | figure | floor | ratio | spread | target | verdict |"
    rows = [x.split(" | ") for x in summary if x.startswith("| kline push")]
    assert [r[0] for r in rows] == ["| kline push on-push path, 300 pushes/candle",
                                    "| kline push on-push path, 5 pushes/candle"]
    assert [r[5] for r in rows] == ["<= 2x", "<= 3x"]
    verdicts = [r[6].rstrip(" |") for r in rows]
    assert set(verdicts) <= {"MET", "NOT MET"}
    for r in rows:  # the figure, the same run's floor, their ratio within the rounds' range
        assert r[1].endswith(" us/push") and r[2].endswith(" us bare decode")
        assert float(r[1].split()[0]) > float(r[2].split()[0]) > 0
        lo, _, hi = r[4].partition("-")
        assert float(lo) <= float(r[3].rstrip("x")) <= float(hi or lo)  # the median round
    assert done.returncode == (0 if verdicts == ["MET", "MET"] else 1)


def test_an_unknown_bench_is_named() -> None:
    done = subprocess.run(["./scripts/bench", "ingest", "nosuch"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert ("error: unknown bench nosuch; known: ingest, store, latency, memory, pairs"
            in done.stderr)
    assert "=== " not in done.stdout  # nothing ran
