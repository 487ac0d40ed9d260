"""The hostile-exchange campaign (issue 12): a real daemon process against a simulator that
lies, case by case, classified as bench/hostile_judge.py says (TRACEBACK, GARBAGE BOOKED,
PRICE TRUSTED, SILENT... or survived / exited cleanly). The cases (bench/hostile_cases.py):
every REST endpoint the daemon calls x every bad answer that makes sense for it, and the
websocket faults, each once and always.

Each case: a private redis-server, this tree's simulator in this process (60x), the daemon
of ``--daemon-tree`` (default: this tree; another checkout runs with ITS .venv, against THIS
simulator, given only the config keys it knows), SIGTERM after ``--seconds``. Prints a table
per case, the totals per class and the case list of each defect; ``--json-out`` writes it all.

    .venv/bin/python bench/hostile_campaign.py [--quick] [--jobs 3] [--seconds 22]
        [--daemon-tree PATH] [--only TEXT] [--json-out FILE] [--logs DIR]
    .venv/bin/python bench/hostile_campaign.py --compare BEFORE.json AFTER.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hostile_cases import Case, all_cases
from bench.hostile_judge import CLASSES, DEFECTS, Verdict, judge
from bench.hostile_run import Tree, run_case

REPO = Path(__file__).resolve().parent.parent
WS_EXTRA_S = 6.0  # websocket cases run longer: a deaf stream must outlast the health limit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a subset (one or two kinds each)")
    p.add_argument("--jobs", type=int, default=4, help="cases run at the same time")
    p.add_argument("--seconds", type=float, default=16.0, help="run time of a REST case")
    p.add_argument("--daemon-tree", type=Path, default=REPO,
                   help="checkout whose daemon runs (its .venv/bin/python)")
    p.add_argument("--only", action="append", default=[],
                   help="run only cases whose name contains this (repeatable)")
    p.add_argument("--json-out", type=Path, help="write every verdict here as JSON")
    p.add_argument("--logs", type=Path, help="keep each case's daemon output in this folder")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                   help="run nothing: the totals of two --json-out files side by side and "
                   "every case whose class changed")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.seconds < 5:
        p.error("--jobs must be >= 1 and --seconds >= 5")
    return args


def select(args: argparse.Namespace) -> list[Case]:
    cases = all_cases()
    if args.quick:
        cases = [c for c in cases if c.quick]
    if args.only:
        cases = [c for c in cases if any(o in c.name for o in args.only)]
    return cases


async def campaign(cases: list[Case], tree: Tree, args: argparse.Namespace) -> list[Verdict]:
    gate = asyncio.Semaphore(args.jobs)
    done: list[Verdict] = []

    async def one(index: int, case: Case) -> None:
        async with gate:
            seconds = args.seconds + (0 if case.group == "rest" else WS_EXTRA_S)
            started = time.monotonic()
            try:
                seen = await run_case(case, tree, seconds, args.seed)
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    name = re.sub(r"[^A-Za-z0-9.]+", "_", case.name).strip("_")
                    (args.logs / f"{name}.log").write_text(seen.log)
                verdict = judge(case, seen)
            except Exception as exc:  # the harness failed, not the daemon: say so
                verdict = Verdict(case.name, case.group, case.times, "HARNESS ERROR",
                                  details=[f"{type(exc).__name__}: {exc}"])
            done.append(verdict)
            print(f"[{len(done):3}/{len(cases)}] {time.monotonic() - started:4.0f}s "
                  f"{verdict.klass:22} {case.name}", flush=True)

    await asyncio.gather(*(one(i, c) for i, c in enumerate(cases)))
    order = {c.name: i for i, c in enumerate(cases)}
    return sorted(done, key=lambda v: order[v.case])


def report(verdicts: list[Verdict], tree: Tree, elapsed_s: float) -> None:
    print(f"\nhostile campaign: daemon of {tree.path}, {len(verdicts)} cases, "
          f"{elapsed_s / 60:.1f} min\n")
    print(f"{'case':58} {'class':22} {'ready':5} {'sent':>4} {'fills':>5} {'exch':>4} exit")
    for v in verdicts:
        print(f"{v.case[:58]:58} {v.klass:22} {'yes' if v.ready else 'no':5} "
              f"{v.orders_sent:4} {v.fills_booked:5} {v.exchange_fills:4} {v.exit}"
              f"{'  (fills not all read yet)' if v.unbooked else ''}")
    totals = Counter(v.klass for v in verdicts)
    print("\ntotals per class:")
    for klass in (*CLASSES, "HARNESS ERROR"):
        if totals[klass]:
            print(f"  {klass:24} {totals[klass]:4}")
    flagged = Counter(f for v in verdicts for f in v.flags)
    if flagged:
        print("cases showing each defect (a case may show several):")
        for flag in DEFECTS:
            if flagged[flag]:
                print(f"  {flag:24} {flagged[flag]:4}")
    failing = [v for v in verdicts if v.klass in DEFECTS or v.klass == "HARNESS ERROR"]
    for klass in (*DEFECTS, "HARNESS ERROR"):
        mine = [v for v in failing if v.klass == klass]
        if mine:
            print(f"\n== {klass} ({len(mine)})")
        for v in mine:
            print(f"- {v.case}")
            for d in v.details[:4]:
                print(f"    {d[:300]}")
            for x in v.excerpt[:8]:
                print(f"    | {x[:200]}")


def compare(before_path: Path, after_path: Path) -> None:
    before, after = (json.loads(p.read_text()) for p in (before_path, after_path))
    print(f"{'class':24} {'before':>6} {'after':>6}")
    for klass in (*CLASSES, "HARNESS ERROR"):
        b, a = before["totals"].get(klass, 0), after["totals"].get(klass, 0)
        if a or b:
            print(f"{klass:24} {b:6} {a:6}")
    was = {c["case"]: c["klass"] for c in before["cases"]}
    print("\ncases whose class changed:")
    for c in after["cases"]:
        if was.get(c["case"], c["klass"]) != c["klass"]:
            print(f"  {c['case'][:56]:56} {was[c['case']]:22} -> {c['klass']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        compare(*args.compare)
        return 0
    tree = Tree.of(args.daemon_tree.resolve())
    cases = select(args)
    if not cases:
        print("error: no case matches", file=sys.stderr)
        return 2
    print(f"{len(cases)} cases, {args.jobs} at a time, {args.seconds:.0f} s each "
          f"(+{WS_EXTRA_S:.0f} s for websocket cases); daemon of {tree.path}", flush=True)
    started = time.monotonic()
    verdicts = asyncio.run(campaign(cases, tree, args))
    elapsed = time.monotonic() - started
    report(verdicts, tree, elapsed)
    if args.json_out:
        data = {"daemon_tree": str(tree.path), "elapsed_s": round(elapsed, 1),
                "seconds": args.seconds, "totals": Counter(v.klass for v in verdicts),
                "cases": [asdict(v) for v in verdicts]}
        tmp = args.json_out.with_name(args.json_out.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        tmp.replace(args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
