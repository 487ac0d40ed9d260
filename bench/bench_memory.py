"""The daemon's resident memory while it trades, as a fitted slope against the slope of an idle
phase of the same run (issue 20).

A private redis-server, the simulator as a process (seeded random walk, accelerated) and the
daemon as a process in live mode (symmetric strategy, 1 s schedule, so it keeps trading). Its
RSS (/proc/<pid>/status VmRSS) is sampled every ``--sample-s`` with the fills it booked (its
/metrics counter ``rebalancer_fills_total``) and the simulated time:
  warm-up   trading, not judged (imports, caches, the candle window filling)
  idle      trading halted (``halt`` flag in Redis): streams, evaluations, heartbeat go on,
            no orders: the floor, what the RSS does without fills
  trading   the halt cleared: orders and fills
Least squares gives KB per simulated day for both phases and KB per fill while trading.
Flat means: per fill, the trading slope exceeds the idle one by no more than twice their
combined standard error or 0.1 KB, whichever is larger, at a resolution (that standard error)
of 0.5 KB per fill or better. 0.1 KB per fill is 10 MB after 100,000 fills (a fill every
15 minutes for almost three years); the 4.7 KB per fill issue 20 measured is 470 MB.
Run: .venv/bin/python bench/bench_memory.py [--speed 3000] [--sim-days 5] [--idle-days 1]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from benchkit import Fit, Verdict, fit_slope, verdict

from daemon.adapters.redis_store import RedisStore
from daemon.commands.demo import DEMO_API_KEY, DEMO_API_SECRET
from daemon.local_redis import LocalRedis, free_port

PREFIX = "bot:QRLUSDT:"
RESOLUTION_KB_PER_FILL = 0.5
FLAT_KB_PER_FILL = 0.1  # 10 MB after 100,000 fills


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fills_booked(metrics_url: str) -> int:
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("rebalancer_fills_total")))


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what}: {url} did not answer within {timeout_s:g} s")


@dataclass
class Phase:
    name: str
    sim_days: list[float] = field(default_factory=list)
    rss_kb: list[float] = field(default_factory=list)
    fills: list[float] = field(default_factory=list)


class Run:
    def __init__(self, pid: int, metrics_url: str, speed: float, sample_s: float) -> None:
        self.pid, self.metrics_url, self.speed, self.sample_s = pid, metrics_url, speed, sample_s
        self.t0 = time.monotonic()

    def sim_day(self) -> float:
        return (time.monotonic() - self.t0) * self.speed / 86_400

    def phase(self, name: str, sim_days: float, proc: subprocess.Popen[bytes]) -> Phase:
        p = Phase(name)
        end = time.monotonic() + sim_days * 86_400 / self.speed
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({proc.returncode}) during {name}")
            p.sim_days.append(self.sim_day())
            p.rss_kb.append(rss_kb(self.pid))
            p.fills.append(fills_booked(self.metrics_url))
            time.sleep(max(min(self.sample_s, end - time.monotonic()), 0))
        print(f"{name:8} {len(p.rss_kb):>4} samples, RSS {p.rss_kb[0] / 1024:.1f} -> "
              f"{p.rss_kb[-1] / 1024:.1f} MB, fills {p.fills[0]:.0f} -> {p.fills[-1]:.0f}",
              flush=True)
        return p


def halt(url: str, on: bool) -> None:
    import asyncio

    async def go() -> None:
        store = RedisStore(url, PREFIX)
        await store.connect()
        try:
            if on:
                await store.set_halt("bench_memory: idle phase", int(time.time() * 1000))
            else:
                await store.clear_halt()
        finally:
            await store.close()

    asyncio.run(go())


def start(args: argparse.Namespace, redis_url: str, work: Path,
          env: dict[str, str]) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], str]:
    port, health = free_port(), free_port()
    sim = subprocess.Popen([sys.executable, "-m", "daemon", "sim", "--port", str(port),
                            "--speed", str(args.speed), "--seed", "4", "--balance",
                            "QRL=100000", "--balance", "USDT=5000"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/api/v3/ping", sim, "the simulator")
    cfg = {"mode": "live",
           "exchange": {"rest_url": f"http://127.0.0.1:{port}",
                        "ws_url": f"ws://127.0.0.1:{port}/ws", "kline_interval": "Min1"},
           "redis": {"url": redis_url},
           "schedule": {"interval_s": 1},
           "strategy": {"name": "symmetric", "threshold": 0, "ma_short": 3, "ma_long": 10},
           "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 1000000,
                    "max_price_deviation_pct": 100, "min_notional": 1},
           "execution": {"order_timeout_s": 2},
           "health": {"listen": f"127.0.0.1:{health}"},
           "log": {"level": "WARNING"}}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    with (work / "log").open("w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "daemon", "run", "-c",
                                   str(work / "config.yaml")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
    metrics = f"http://127.0.0.1:{health}/metrics"
    wait_http(metrics, daemon, "the daemon")
    return sim, daemon, metrics


def main(args: argparse.Namespace) -> int:
    env = dict(os.environ, MEXC_SIM_API_KEY=DEMO_API_KEY, MEXC_SIM_API_SECRET=DEMO_API_SECRET,
               MEXC_API_KEY=DEMO_API_KEY, MEXC_API_SECRET=DEMO_API_SECRET)
    work = Path(tempfile.mkdtemp(prefix="rebalancer-bench-"))
    with LocalRedis() as redis:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            sim, daemon, metrics = start(args, redis.url, work, env)
            procs = [daemon, sim]
            run = Run(daemon.pid, metrics, args.speed, args.sample_s)
            run.phase("warm-up", args.warmup_days, daemon)
            halt(redis.url, True)
            idle = run.phase("idle", args.idle_days, daemon)
            halt(redis.url, False)
            trading = run.phase("trading", args.sim_days, daemon)
        except RuntimeError as exc:
            print(f"error: {exc}; see {work / 'log'}", file=sys.stderr)
            return 2
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)
    return report(idle, trading)


def report(idle: Phase, trading: Phase) -> int:
    fi = fit_slope(idle.sim_days, idle.rss_kb)
    ft = fit_slope(trading.sim_days, trading.rss_kb)
    fills = trading.fills[-1] - trading.fills[0]
    days = trading.sim_days[-1] - trading.sim_days[0]
    print(f"RSS slope, KB per simulated day: idle {fi.slope:+.1f} +- {fi.stderr:.1f}, "
          f"trading {ft.slope:+.1f} +- {ft.stderr:.1f} ({fills:.0f} fills in {days:.2f} "
          f"simulated days)")
    if fills < 10:
        print("too few fills while trading to judge a slope per fill")
        return 1
    per_day = fills / days
    fpf: Fit = fit_slope(trading.fills, trading.rss_kb)
    idle_pf, idle_se = fi.slope / per_day, fi.stderr / per_day  # idle, at the trading fill rate
    excess = ft.slope / per_day - idle_pf
    sigma = math.hypot(ft.stderr / per_day, idle_se)
    print(f"RSS per fill: {fpf.slope:+.2f} +- {fpf.stderr:.2f} KB (fit on fills); trading "
          f"minus idle at {per_day:.0f} fills/simulated day: {excess:+.2f} +- {sigma:.2f} KB")
    met = excess <= max(2 * sigma, FLAT_KB_PER_FILL) and sigma <= RESOLUTION_KB_PER_FILL
    if sigma > RESOLUTION_KB_PER_FILL:
        print(f"resolution {sigma:.2f} KB per fill is coarser than {RESOLUTION_KB_PER_FILL} KB: "
              f"run more simulated days (--sim-days) to judge")
    return 0 if verdict(Verdict(
        "bench_memory", "daemon RSS while trading (fitted slope)",
        f"{ft.slope:+.0f} KB/sim day = {excess + idle_pf:+.2f} KB/fill",
        f"idle {fi.slope:+.0f} KB/sim day", f"{excess:+.2f} KB/fill over idle",
        f"+-{sigma:.2f} KB/fill (1 se)",
        f"flat: <= max(2 se, {FLAT_KB_PER_FILL} KB/fill), se <= {RESOLUTION_KB_PER_FILL}",
        met)) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", type=float, default=3000.0)
    ap.add_argument("--warmup-days", type=float, default=0.5)
    ap.add_argument("--idle-days", type=float, default=1.0)
    ap.add_argument("--sim-days", type=float, default=5.0, help="of trading")
    ap.add_argument("--sample-s", type=float, default=1.0)
    a = ap.parse_args()
    if min(a.speed, a.warmup_days, a.idle_days, a.sim_days, a.sample_s) <= 0:
        ap.error("every figure must be above 0")
    sys.exit(main(a))
