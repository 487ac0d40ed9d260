"""The daemon's resident memory over one simulated week.

Starts a private redis-server, the simulator as a process (seeded random walk, accelerated) and
the daemon as a process in live mode (symmetric strategy, 1 s schedule, so it keeps trading),
then samples the daemon's RSS (/proc/<pid>/status VmRSS): after a warm-up and at the end of a
simulated week. Target: flat within 5 MB.
Run: .venv/bin/python bench/bench_memory.py [--speed 3000] [--sim-days 7]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from daemon.commands.demo import DEMO_API_KEY, DEMO_API_SECRET, wait_http
from daemon.local_redis import LocalRedis, free_port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main(speed: float, sim_days: float, warmup_s: float) -> None:
    env = dict(os.environ, MEXC_SIM_API_KEY=DEMO_API_KEY, MEXC_SIM_API_SECRET=DEMO_API_SECRET,
               MEXC_API_KEY=DEMO_API_KEY, MEXC_API_SECRET=DEMO_API_SECRET)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="rebalancer-bench-"))
    with LocalRedis() as redis:
        sim = subprocess.Popen([sys.executable, "-m", "daemon", "sim", "--port", str(port),
                                "--speed", str(speed), "--seed", "4", "--balance",
                                "QRL=100000", "--balance", "USDT=5000"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemon = None
        try:
            wait_http(f"http://127.0.0.1:{port}/api/v3/ping", sim)
            cfg = {"mode": "live",
                   "exchange": {"rest_url": f"http://127.0.0.1:{port}",
                                "ws_url": f"ws://127.0.0.1:{port}/ws"},
                   "redis": {"url": redis.url},
                   "schedule": {"interval_s": 1},
                   "strategy": {"name": "symmetric", "threshold": 0.002},
                   "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 1000000,
                            "max_price_deviation_pct": 100, "min_notional": 1},
                   "execution": {"order_timeout_s": 2},
                   "log": {"level": "WARNING"}}
            (work / "config.yaml").write_text(yaml.safe_dump(cfg))
            log_file = (work / "log").open("w")  # closed when the process ends
            daemon = subprocess.Popen([sys.executable, "-m", "daemon", "run", "-c",
                                       str(work / "config.yaml")], env=env,
                                      stdout=subprocess.DEVNULL, stderr=log_file)
            total_s = sim_days * 86400 / speed
            time.sleep(warmup_s)
            warm = rss_mb(daemon.pid)
            print(f"after warm-up ({warmup_s:.0f} s real = {warmup_s * speed / 3600:.1f} "
                  f"simulated hours): RSS {warm:.1f} MB")
            samples = [warm]
            end = time.monotonic() + total_s - warmup_s
            while time.monotonic() < end:
                time.sleep(min(30, max(end - time.monotonic(), 0)))
                if daemon.poll() is not None:
                    raise RuntimeError(f"daemon exited ({daemon.returncode}); see {work/'log'}")
                samples.append(rss_mb(daemon.pid))
            final = samples[-1]
            print(f"after {sim_days:g} simulated days ({total_s:.0f} s real): RSS {final:.1f} MB"
                  f"; max {max(samples):.1f} MB")
            print(f"growth after warm-up: {final - warm:+.1f} MB "
                  f"(target: within 5 MB: {'MET' if abs(final - warm) <= 5 else 'NOT MET'})")
            trades = redis_trades(redis.url)
            print(f"trades booked during the run: {trades}")
        finally:
            for proc in (daemon, sim):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)


def redis_trades(url: str) -> int:
    import redis as syncredis

    client = syncredis.Redis.from_url(url)
    try:
        return int(client.hlen("bot:QRLUSDT:fills"))
    finally:
        client.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", type=float, default=3000.0)
    ap.add_argument("--sim-days", type=float, default=7.0)
    ap.add_argument("--warmup-s", type=float, default=20.0)
    a = ap.parse_args()
    main(a.speed, a.sim_days, a.warmup_s)
