"""What notifications add to a decision: evaluation time with and without them, same run.

The daemon's engine runs in-process against the simulator and a private redis-server
(dry_run: every evaluation decides and records its plan; no order). Evaluations alternate
between none and one message queued right before it (the worst case: a message per decision),
so the machine's noise falls on both kinds alike. Phase one sends into a json:// webhook
receiver in another process, phase two to a port that never answers (every send hangs until
its timeout). Printed: median and p99 of ``engine.evaluate`` for each kind, and what a message
in flight adds to the p99 (target: under 5%). Without URLs ``emit`` returns at once: nothing
to measure.
Run: .venv/bin/python bench/bench_notify_cost.py [--evaluations 300] [--gap-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time

from pydantic import SecretStr

from daemon.config import Credentials, LogSettings, NotifySettings, parse_settings
from daemon.local_redis import LocalRedis
from daemon.logging_setup import configure_logging
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import SimConfig, Simulator

RECEIVER = """
import sys
from aiohttp import web
async def hook(request):
    await request.read()
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/{tail:.*}", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p99(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


async def alternate(engine: RebalancerEngine, n: int, gap_s: float) -> tuple[list[float],
                                                                             list[float]]:
    """``n`` evaluations without a message and ``n`` with one queued right before, taken in
    turn (the machine's noise falls on both alike): (without, with), in ms."""
    without: list[float] = []
    with_message: list[float] = []
    for i in range(2 * n):
        emit = i % 2 == 1
        if emit:
            engine.alerts.emit("order", f"QRLUSDT SELL FILLED {i}",
                               "SELL 100 of 100 QRL at avg 0.0512 USDT (1 fill(s), fees "
                               "0.005 USDT); order rb-bench")
        started = time.perf_counter()
        await engine.evaluate("bench")
        (with_message if emit else without).append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(gap_s)  # the next decision comes later (the sender works meanwhile)
    return without, with_message


async def main(evaluations: int, gap_s: float) -> None:
    configure_logging(LogSettings(level="ERROR"))
    port, hole_port = free_port(), free_port()
    receiver = await asyncio.create_subprocess_exec(sys.executable, "-c", RECEIVER, str(port))
    hole = socket.socket()
    hole.bind(("127.0.0.1", hole_port))
    hole.listen(100)
    phases = {"receiver": NotifySettings(urls=(f"json://127.0.0.1:{port}/hook",)),
              "hanging": NotifySettings(urls=(f"json://127.0.0.1:{hole_port}/hook",),
                                        retries=0, send_timeout_s=2, queue_max=5)}
    results: dict[str, tuple[list[float], list[float], tuple[int, int, int]]] = {}
    try:
        await asyncio.sleep(1.0)  # the receiver starts
        with LocalRedis() as redis:
            async with Simulator(SimConfig(seed=3, speed=60.0,
                                           balances={"QRL": "20000", "USDT": "1000"})) as sim:
                settings = parse_settings({
                    "mode": "dry_run",
                    "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url},
                    "redis": {"url": redis.url}, "schedule": {"interval_s": 3600},
                    "risk": {"stale_after_s": 600, "max_price_deviation_pct": 100}})
                creds = Credentials(api_key=SecretStr(sim.api_key),
                                    api_secret=SecretStr(sim.api_secret))
                engine = await build_engine(settings, creds, Supervisor())
                await engine.start()
                for name, notify in phases.items():
                    await engine.alerts.apply(notify)
                    a = engine.alerts
                    before = (a.sent, a.failed, a.dropped)
                    await alternate(engine, 10, gap_s)  # warm up
                    without, with_message = await alternate(engine, evaluations, gap_s)
                    counts = (a.sent - before[0], a.failed - before[1], a.dropped - before[2])
                    results[name] = (without, with_message, counts)
                await engine.stop()
    finally:
        receiver.terminate()
        await receiver.wait()
        hole.close()
    report(results)


def report(results: dict[str, tuple[list[float], list[float], tuple[int, int, int]]]) -> None:
    print(f"{'receiver':9} {'message':8} {'evaluations':>11} {'median ms':>10} {'p99 ms':>8}")
    for name, (without, with_message, (sent, failed, dropped)) in results.items():
        for label, values in (("no", without), ("yes", with_message)):
            print(f"{name:9} {label:8} {len(values):>11} {statistics.median(values):>10.3f} "
                  f"{p99(values):>8.3f}")
        added = (p99(with_message) - p99(without)) / p99(without) * 100
        median = ((statistics.median(with_message) - statistics.median(without))
                  / statistics.median(without) * 100)
        print(f"  {name}: a message in flight adds {added:+.1f}% to the p99 "
              f"({median:+.1f}% to the median); target < +5%; "
              f"sent {sent}, failed {failed}, dropped {dropped}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=300, help="of each kind, per phase")
    ap.add_argument("--gap-ms", type=float, default=200.0,
                    help="between evaluations (the daemon's are >= 1 s apart)")
    a = ap.parse_args()
    asyncio.run(main(a.evaluations, a.gap_ms / 1000))
