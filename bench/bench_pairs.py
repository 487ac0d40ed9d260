"""One process following many pairs (issue 20): the market hub's RSS per added pair, as a
fitted slope, and its CPU share of one core at 50 pairs pushing at MEXC's rate.

Three kinds of process, so that no one's cost is counted in another's:
  the simulator  serving ``--pairs`` symbols (the most asked) in real time (speed 1), each
                 pushing its forming kline once a second and its best bid/ask up to every
                 100 ms (MEXC's rates, PROTOCOL.md 5: "push updates to the current kline every
                 second"; the aggregated book ticker channel ``@100ms``), about 11 pushes a
                 second per pair;
  a follower     per point: imports the daemon, starts ``MarketHub`` on the first N symbols
                 (REST backfill, connections of 15 pairs), logs at INFO to /dev/null, lets it
                 run, then measures its own RSS (VmRSS) and, at the most pairs, its CPU time
                 over wall time in ``--rounds`` windows; N = 0 is the RSS floor (the same
                 process, everything imported, no pair);
  the CPU floor  a bare client in its own process: the same channels on the same number of
                 connections, each push received and decoded (``PushDataV3ApiWrapper``), nothing
                 else: what any client must spend on these pushes.
Targets: each added pair costs at most 1 MB of RSS (the fitted slope plus twice its standard
error), 50 pairs take at most 5 % of one core (every round).
Run: .venv/bin/python bench/bench_pairs.py [--pairs 1 10 25 50] [--rounds 3] [--window-s 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchkit import Verdict, fit_slope, num, spread, verdict

HERE = Path(__file__).resolve()
KLINE_PER_S = 1.0  # MEXC pushes the forming kline every second
BOOK_PER_S = 10.0  # the aggregated book ticker at most every 100 ms
PAIRS_PER_CONNECTION = 15
RSS_TARGET_KB = 1024.0
CPU_TARGET = 0.05


def bench_symbols(n: int) -> list[str]:
    return [f"P{i:02d}USDT" for i in range(1, n + 1)]


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def first_window(sync: bool, warmup_s: float) -> float:
    """When the first CPU window begins (wall clock): with ``sync``, after ``warmup_s`` this
    process says READY and the bench answers with the time, the same for both processes at
    the most pairs (they measure the same windows); else now."""
    if not sync:
        return time.time()
    await asyncio.sleep(warmup_s)
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return float(line)


async def sleep_until(epoch_s: float, who: str) -> None:
    """Until the wall-clock time ``epoch_s``."""
    delay = epoch_s - time.time()
    if delay < -0.05:
        raise RuntimeError(f"{who} began its window {-delay:.1f} s late (its loop was busy)")
    await asyncio.sleep(max(delay, 0.0))


# --- the simulator's process ------------------------------------------------------------
async def serve(n: int) -> None:
    from loguru import logger

    from daemon.sim import ExtraSymbol, SimConfig, Simulator

    logger.remove()
    syms = tuple(ExtraSymbol(s, s[:-4], "USDT", quote_precision=5,
                             start_price=f"{1 + i / 7:.3f}")
                 for i, s in enumerate(bench_symbols(n)))
    cfg = SimConfig.for_symbols(syms, seed=20, speed=1.0, tick_hz=20.0, weight_per_10s=None)
    async with Simulator(cfg, port=0) as sim:
        print(f"REST {sim.rest_url} WS {sim.ws_url}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF


# --- a follower's process ---------------------------------------------------------------
async def follow(n: int, rest_url: str, ws_url: str, sync: bool, warmup_s: float,
                 rounds: int, window_s: float) -> dict[str, Any]:
    from benchkit import daemon_logs_to_devnull
    from pydantic import SecretStr

    from daemon.adapters.mexc.rest import MexcRest
    from daemon.commands.demo import DEMO_API_KEY, DEMO_API_SECRET
    from daemon.config import Credentials, ExchangeSettings, Settings
    from daemon.runtime.market_hub import MarketHub

    daemon_logs_to_devnull()
    ex = ExchangeSettings.model_validate({"rest_url": rest_url, "ws_url": ws_url})
    settings = Settings(symbol="P01USDT", exchange=ex)
    rest = MexcRest(ex, Credentials(api_key=SecretStr(DEMO_API_KEY),
                                    api_secret=SecretStr(DEMO_API_SECRET)))
    await rest.start()
    hub = MarketHub(settings, rest, bench_symbols(n)) if n else None
    if hub is not None:
        await hub.start()
        deadline = time.monotonic() + 30
        while not all(s.connected.is_set() for s in hub.streams):
            if time.monotonic() > deadline:
                raise RuntimeError("the hub's connections did not all connect within 30 s")
            await asyncio.sleep(0.05)
    shares, rates = [], []
    at = await first_window(sync, warmup_s)
    for r in range(rounds):
        await sleep_until(at + r * window_s, "the hub")
        pushes = 0 if hub is None else sum(p.pushes for p in hub.pairs.values())
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(window_s)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        shares.append(cpu / wall)
        if hub is not None:
            rates.append((sum(p.pushes for p in hub.pairs.values()) - pushes) / wall)
    out = {"pairs": n, "rss_kb": rss_kb(), "cpu": shares, "pushes_per_s": rates,
           "connections": 0 if hub is None else len(hub.streams),
           "bad": 0 if hub is None else sum(p.stats.bad_frames for p in hub.pairs.values())}
    if hub is not None:
        await hub.stop()
    await rest.close()
    return out


async def bare(n: int, ws_url: str, warmup_s: float, rounds: int,
               window_s: float) -> dict[str, Any]:
    """The CPU floor: the same subscriptions, each push received and decoded, nothing else."""
    import orjson
    from websockets.asyncio.client import ClientConnection, connect

    from daemon.adapters.mexc import intervals
    from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper

    decode = PushDataV3ApiWrapper.FromString
    count = 0

    async def reader(ws: ClientConnection) -> None:
        nonlocal count
        async for frame in ws:
            if isinstance(frame, bytes):
                decode(frame)
                count += 1

    async def pinger(ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(20)
            await ws.send('{"method":"PING"}')

    syms = bench_symbols(n)
    tasks = []
    for i in range(0, n, PAIRS_PER_CONNECTION):
        ws = await connect(ws_url, ping_interval=None, max_size=2**20)
        for s in syms[i:i + PAIRS_PER_CONNECTION]:
            for ch in (intervals.kline_channel(s, "Min5"), intervals.book_ticker_channel(s)):
                await ws.send(orjson.dumps({"method": "SUBSCRIPTION", "params": [ch]}).decode())
        tasks += [asyncio.create_task(reader(ws)), asyncio.create_task(pinger(ws))]
    shares, rates = [], []
    at = await first_window(True, warmup_s)
    for r in range(rounds):
        await sleep_until(at + r * window_s, "the bare client")
        pushes, wall, cpu = count, time.monotonic(), time.process_time()
        await asyncio.sleep(window_s)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        shares.append(cpu / wall)
        rates.append((count - pushes) / wall)
    for t in tasks:
        t.cancel()
    return {"pairs": n, "cpu": shares, "pushes_per_s": rates}


# --- the bench (the parent: starts the others, fits, judges) ---------------------------
def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def go_together(procs: list[subprocess.Popen[str]], lead_s: float = 1.0) -> None:
    """Wait until each process says READY, then give all the same start time."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            _, err = proc.communicate(timeout=30)
            raise RuntimeError(f"bench_pairs {' '.join(map(str, proc.args))} did not get "
                               f"ready ({proc.returncode}): {err[-2000:]}")
    at = time.time() + lead_s
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{at}\n")
        proc.stdin.flush()


def result(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_pairs {what} failed ({proc.returncode}): {err[-2000:]}")
    got: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return got


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def judge(points: list[dict[str, Any]], hub: dict[str, Any], floor: dict[str, Any]) -> bool:
    base = next(p for p in points if p["pairs"] == 0)
    pts = [p for p in points if p["pairs"] > 0]
    fit = fit_slope([p["pairs"] for p in pts], [p["rss_kb"] for p in pts])
    most = max(pts, key=lambda p: p["pairs"])
    ok = verdict(Verdict(
        bench="bench_pairs", name="market hub RSS per added pair (fitted slope)",
        figure=f"{num(fit.slope)} KB/pair",
        floor=f"{num(base['rss_kb'] / 1024)} MB RSS with no pair",
        ratio=f"{most['rss_kb'] / base['rss_kb']:.2f}x RSS at {most['pairs']} pairs",
        spread=f"+-{num(fit.stderr)} KB/pair (1 se, {fit.n} points)",
        target="<= 1 MB/pair (slope + 2 se)",
        met=fit.slope + 2 * fit.stderr <= RSS_TARGET_KB))
    n = hub["pairs"]
    ratios = [h / f for h, f in zip(hub["cpu"], floor["cpu"], strict=True)]
    k = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]  # median round
    share, rate = max(hub["cpu"]), min(hub["pushes_per_s"])
    wanted = n * (KLINE_PER_S + BOOK_PER_S)
    at_rate = rate >= 0.8 * wanted
    figure = f"{share * 100:.2f} % of one core (worst round) at {num(rate)} pushes/s"
    if not at_rate:
        figure += f" (BELOW MEXC's {num(wanted)}/s: the simulator fell behind)"
    ok = verdict(Verdict(
        bench="bench_pairs", name=f"market hub CPU at {n} pairs, MEXC's push rate",
        figure=figure, floor=f"{floor['cpu'][k] * 100:.2f} % bare receive + decode",
        ratio=f"{ratios[k]:.2f}x", spread=spread(ratios),
        target="<= 5 % of one core", met=at_rate and share <= CPU_TARGET)) and ok
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[1, 10, 25, 50])
    ap.add_argument("--rounds", type=int, default=3, help="CPU windows at the most pairs")
    ap.add_argument("--window-s", type=float, default=5.0)
    ap.add_argument("--warmup-s", type=float, default=3.0,
                    help="at the most pairs: from all connected to the first CPU window")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--follow", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rest", help=argparse.SUPPRESS)
    ap.add_argument("--ws", help=argparse.SUPPRESS)
    ap.add_argument("--sync", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return 0
    if args.follow is not None:
        # an RSS point: one short window once the hub is up
        rounds, window = (args.rounds, args.window_s) if args.sync else (1, 0.5)
        print(json.dumps(asyncio.run(follow(args.follow, args.rest, args.ws, args.sync,
                                            args.warmup_s, rounds, window))))
        return 0
    if args.bare is not None:
        print(json.dumps(asyncio.run(bare(args.bare, args.ws, args.warmup_s, args.rounds,
                                          args.window_s))))
        return 0
    if len(args.pairs) < 2 or min(args.pairs) < 1 or len(set(args.pairs)) != len(args.pairs):
        ap.error("--pairs: two or more different counts, each at least 1")
    if args.rounds < 1 or args.window_s <= 0 or args.warmup_s < 0:
        ap.error("--rounds must be >= 1, --window-s > 0, --warmup-s >= 0")
    return run(sorted(args.pairs), args)


def run(counts: list[int], args: argparse.Namespace) -> int:
    most = counts[-1]
    sim = subprocess.Popen([sys.executable, str(HERE), "--serve", str(most)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        _, rest_url, _, ws_url = sim.stdout.readline().split()
        print(f"simulator (pid {sim.pid}) serving {most} symbols in real time, about "
              f"{KLINE_PER_S + BOOK_PER_S:g} pushes/s each; one follower process per point",
              flush=True)
        print(f"{'pairs':>5} {'connections':>11} {'RSS MB':>8} {'CPU % of a core':>16} "
              f"{'pushes/s':>9}", flush=True)
        points = []
        for n in [0, *counts[:-1]]:
            points.append(result(start("--follow", str(n), "--rest", rest_url, "--ws",
                                       ws_url), f"--follow {n}"))
            show(points[-1])
        # the most pairs and the bare client at once: the same windows, the same machine load
        cpu = ["--rounds", str(args.rounds), "--window-s", str(args.window_s), "--warmup-s",
               str(args.warmup_s), "--sync"]
        hub_proc = start("--follow", str(most), "--rest", rest_url, "--ws", ws_url, *cpu)
        bare_proc = start("--bare", str(most), "--ws", ws_url, *cpu)
        go_together([hub_proc, bare_proc])
        sim_cpu, began = cpu_s(sim.pid), time.monotonic()
        hub, floor = (result(hub_proc, f"--follow {most}"),
                      result(bare_proc, f"--bare {most}"))
        sim_share = (cpu_s(sim.pid) - sim_cpu) / (time.monotonic() - began)
        points.append(hub)
        show(hub)
        print(f"bare receive + decode of {most} pairs' pushes, in the same windows: CPU "
              f"{spread([c * 100 for c in floor['cpu']])} % at "
              f"{spread(floor['pushes_per_s'])} pushes/s (the simulator meanwhile: "
              f"{sim_share * 100:.0f} % of a core)", flush=True)
    finally:
        if sim.stdin is not None:
            sim.stdin.close()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
    if any(p["bad"] for p in points):
        print("error: the hub skipped pushes it could not decode", file=sys.stderr)
        return 1
    return 0 if judge(points, hub, floor) else 1


def show(p: dict[str, Any]) -> None:
    print(f"{p['pairs']:>5} {p['connections']:>11} {p['rss_kb'] / 1024:>8.1f} "
          f"{spread([c * 100 for c in p['cpu']]):>16} "
          f"{spread(p['pushes_per_s']) if p['pushes_per_s'] else '-':>9}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
