"""Run the issue-20 benches with quick settings and end with one summary table (what
``./scripts/bench`` runs).

Each bench runs as its own process (its output shown as it goes) and appends its verdicts to a
file named by $BENCH_SUMMARY (bench/benchkit.py); the table lists every verdict: figure, the
floor measured in the same run, the ratio, the spread over rounds, the target, MET / NOT MET.
Exit status: 0 when every target is met, 1 when one is not (or a bench failed), 2 for bad
arguments. The table is Markdown, to paste into a note.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, quick arguments, about how long on 2 shared cores)
BENCHES: dict[str, tuple[str, list[str], str]] = {
    "ingest": ("bench_ingest.py", ["--frames", "60000", "--rounds", "5"], "15 s"),
    "store": ("bench_store.py", ["--rounds", "9"], "2 min"),
    "latency": ("bench_decision_latency.py", ["--crossovers", "200"], "2.5 min"),
    "memory": ("bench_memory.py", ["--sim-days", "4", "--idle-days", "1",
                                   "--warmup-days", "0.5"], "3 min"),
    "pairs": ("bench_pairs.py", ["--rounds", "3"], "30 s"),
}
COLUMNS = ("figure", "floor", "ratio", "spread", "target", "verdict")


def run(name: str, summary: Path) -> tuple[int, float]:
    script, args, about = BENCHES[name]
    print(f"\n=== {name}: bench/{script} {' '.join(args)} (about {about})", flush=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(HERE / script), *args],
                          env=dict(os.environ, BENCH_SUMMARY=str(summary)), check=False)
    return done.returncode, time.monotonic() - started


def cell(text: str) -> str:
    return text.replace("|", "/")


def table(rows: list[dict[str, str]]) -> str:
    head = "| " + " | ".join(("measure", *COLUMNS)) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for r in rows:
        lines.append("| " + " | ".join(cell(r[k]) for k in ("name", *COLUMNS)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="BENCH",
                    help=f"run only these ({', '.join(BENCHES)}); default: all")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        print(f"error: unknown bench {', '.join(unknown)}; known: {', '.join(BENCHES)}",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="rebalancer-bench-") as tmp:
        summary = Path(tmp) / "verdicts.jsonl"
        for name in args.names or list(BENCHES):
            summary.write_text("")
            code, took = run(name, summary)
            got = [json.loads(x) for x in summary.read_text().splitlines() if x.strip()]
            for v in got:
                rows.append({**{k: str(v[k]) for k in ("name", "figure", "floor", "ratio",
                                                         "spread", "target")},
                             "verdict": "MET" if v["met"] else "NOT MET"})
            if not got or code not in (0, 1):
                rows.append({"name": f"bench/{BENCHES[name][0]}", "figure": "-", "floor": "-",
                             "ratio": "-", "spread": "-", "target": "-",
                             "verdict": f"FAILED (exit {code}, {took:.0f} s)"})
    text = table(rows)
    met = sum(r["verdict"] == "MET" for r in rows)
    print(f"\n=== summary ({time.monotonic() - started:.0f} s; {met} of {len(rows)} targets "
          f"met)\n{text}")
    return 0 if rows and met == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
