"""From the kline push that closes a crossover candle to the order request leaving the process,
against its floor measured in the same run: one Redis round trip plus one HTTP round trip with
the daemon's own clients (issue 20).

The daemon's engine runs in-process against the simulator (random walk, accelerated, 1-minute
klines, MA 3/10 so that crossovers come often) and a private redis-server, in live mode with
the symmetric strategy at threshold 0 so that every crossover evaluation trades. Timestamps:
  t0  the binary frame reaches MarketFeed (before protobuf decoding)
  t1  aiohttp starts sending POST /api/v3/order (TraceConfig on_request_start)
Nothing is subtracted (a bookTicker request made in between is part of the path). A sample is
taken only for a crossover that finds the daemon idle (no evaluation running, no order of its
own unsettled, no REST request for 100 ms), so it measures the decision path, not a queue
behind the previous order's follow-up.
  floor  the store's redis.asyncio client PING + the same aiohttp session GET /api/v3/ping on
         the simulator, measured every ``--floor-every-ms`` while no crossover is in flight
         (interleaved with the samples, same event loop, same machine load)
  Redis round trips between the push and the POST: every command (or pipeline) the process's
         redis.asyncio connections send in that window
Targets: p99 <= 1.5x the floor's p99; at most 1 Redis round trip before the POST.
Run: .venv/bin/python bench/bench_decision_latency.py [--crossovers 200] [--speed 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from benchkit import Verdict, pct, spread, verdict
from pydantic import SecretStr
from redis.asyncio.connection import AbstractConnection

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials, LogSettings, parse_settings
from daemon.local_redis import LocalRedis
from daemon.logging_setup import configure_logging
from daemon.runtime.app import freeze_startup_heap
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import RandomWalkMarket, SimConfig, Simulator

STALE_S = 1.0  # a POST this long after the crossover push is not that crossover's order
QUIET_S = 0.1  # a sample needs this long without a REST request of the daemon before it


class Probe:
    """Push -> order samples (``samples_ms``, nothing subtracted; ``raw_ms`` is the same list,
    kept for the benches that import it), the Redis round trips of each, the floor."""

    def __init__(self) -> None:
        self.frame_t0 = 0.0
        self.pending: float | None = None
        self.samples_ms: list[float] = []
        self.raw_ms = self.samples_ms
        self.redis_trips: list[int] = []
        self.trips = 0
        self.floor_ms: list[float] = []
        self.floor_redis_ms: list[float] = []
        self.floor_http_ms: list[float] = []
        self.skipped_busy = 0
        self.last_rest = 0.0  # perf_counter of the daemon's last REST request start or end
        self.unattributed = 0
        self.wanted = 0
        self.enough = asyncio.Event()

    def trace(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()

        async def start(_s: Any, _c: SimpleNamespace, p: aiohttp.TraceRequestStartParams) -> None:
            now = time.perf_counter()
            if not p.url.path.endswith("/api/v3/ping"):  # the floor's own GET is not the daemon
                self.last_rest = now
            if p.method != "POST" or not p.url.path.endswith("/api/v3/order"):
                return
            if self.pending is None:
                return
            if now - self.pending > STALE_S:
                self.unattributed += 1
            else:
                self.samples_ms.append((now - self.pending) * 1000)
                self.redis_trips.append(self.trips)
            self.pending = None
            if len(self.samples_ms) >= self.wanted:
                self.enough.set()

        async def end(_s: Any, _c: SimpleNamespace, p: aiohttp.TraceRequestEndParams) -> None:
            if not p.url.path.endswith("/api/v3/ping"):
                self.last_rest = time.perf_counter()

        tc.on_request_start.append(start)
        tc.on_request_end.append(end)
        return tc

    def count_redis(self) -> None:
        """Count what the process's redis.asyncio connections send while a crossover is in
        flight (one send = one round trip: a pipeline or a script call is one)."""
        send = AbstractConnection.send_packed_command
        probe = self

        async def counted(conn: AbstractConnection, command: Any, check_health: bool = True,
                          ) -> None:
            if probe.pending is not None:
                probe.trips += 1
            await send(conn, command, check_health)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


def idle(engine: RebalancerEngine, probe: Probe) -> bool:
    """No evaluation running, no order of its own unsettled, no REST request for QUIET_S
    (the previous order's follow-up, bookings and balance refresh are over)."""
    return (engine._evaluating == 0 and not engine.ledger.unsettled()
            and time.perf_counter() - probe.last_rest >= QUIET_S)


def instrument(engine: RebalancerEngine, probe: Probe) -> None:
    feed = engine.market
    on_push = feed.stream._on_push

    async def timed_push(frame: Any) -> None:
        probe.frame_t0 = time.perf_counter()
        await on_push(frame)

    feed.stream._on_push = timed_push
    original = engine.on_crossover

    async def on_crossover(event: Any) -> None:
        if idle(engine, probe):
            probe.pending, probe.trips = probe.frame_t0, 0
        else:
            probe.skipped_busy += 1
        await original(event)

    feed._on_crossover = on_crossover


async def floor(engine: RebalancerEngine, session: aiohttp.ClientSession, url: str,
                probe: Probe, every_s: float) -> None:
    """One Redis PING (the store's client) + one HTTP GET (the same session), back to back,
    whenever no crossover is in flight."""
    client = engine.store.client
    while True:
        await asyncio.sleep(every_s)
        if probe.pending is not None:
            continue
        t0 = time.perf_counter()
        await client.ping()
        t1 = time.perf_counter()
        async with session.get(url) as resp:
            await resp.read()
        t2 = time.perf_counter()
        probe.floor_redis_ms.append((t1 - t0) * 1000)
        probe.floor_http_ms.append((t2 - t1) * 1000)
        probe.floor_ms.append((t2 - t0) * 1000)


async def main(args: argparse.Namespace) -> int:
    configure_logging(LogSettings(level="WARNING"))
    probe = Probe()
    probe.wanted = args.crossovers
    probe.count_redis()
    started = time.monotonic()
    with LocalRedis() as redis:
        cfg = SimConfig(seed=3, speed=args.speed, balances={"QRL": "1000000", "USDT": "50000"},
                        market=RandomWalkMarket(volatility_per_min=0.004, trend_per_min=0.002))
        async with Simulator(cfg) as sim:
            settings = parse_settings({
                "mode": "live",
                "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                             "kline_interval": "Min1"},
                "redis": {"url": redis.url},
                "schedule": {"interval_s": 3600},
                "strategy": {"name": "symmetric", "threshold": 0, "ma_short": args.ma[0],
                             "ma_long": args.ma[1]},
                "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 1000000,
                         "max_price_deviation_pct": 100, "min_notional": 1},
                "execution": {"order_timeout_s": 2}})
            creds = Credentials(api_key=SecretStr(sim.api_key),
                                api_secret=SecretStr(sim.api_secret))
            session = aiohttp.ClientSession(trace_configs=[probe.trace()])
            rest = MexcRest(settings.exchange, creds, session=session)
            engine = await build_engine(settings, creds, Supervisor(), rest=rest)
            await engine.start()
            freeze_startup_heap()  # as the daemon's process does once started (run command)
            instrument(engine, probe)
            runner = asyncio.create_task(engine.run())
            floors = asyncio.create_task(floor(engine, session, sim.rest_url + "/api/v3/ping",
                                               probe, args.floor_every_ms / 1000))
            try:
                await asyncio.wait_for(probe.enough.wait(), args.timeout_s)
            except TimeoutError:
                print(f"stopped after {args.timeout_s:g} s with {len(probe.samples_ms)} of "
                      f"{args.crossovers} samples")
            floors.cancel()
            await engine.stop()
            runner.cancel()
            await asyncio.gather(runner, floors, return_exceptions=True)
            await session.close()
    print(f"run took {time.monotonic() - started:.0f} s; crossovers skipped (daemon busy) "
          f"{probe.skipped_busy}, POSTs not attributed {probe.unattributed}")
    return report(probe, args.rounds)


def report(probe: Probe, rounds: int) -> int:
    s, f = probe.samples_ms, probe.floor_ms
    if len(s) < 2 or len(f) < 2:
        print(f"not enough samples ({len(s)} push -> order, {len(f)} floor); nothing judged")
        return 1
    print(f"{'(ms)':34}{'samples':>8}{'p50':>9}{'p99':>9}{'max':>9}")
    for name, v in (("push -> order POST", s), ("floor: Redis PING + HTTP GET", f),
                    ("  Redis PING", probe.floor_redis_ms), ("  HTTP GET /api/v3/ping",
                                                             probe.floor_http_ms)):
        print(f"{name:34}{len(v):>8}{statistics.median(v):>9.3f}{pct(v, 0.99):>9.3f}"
              f"{max(v):>9.3f}")
    ratio = pct(s, 0.99) / pct(f, 0.99)
    print(f"ratio to the floor: p50 {statistics.median(s) / statistics.median(f):.2f}x, "
          f"p99 {ratio:.2f}x")
    size = max(len(s) // rounds, 1)
    per_round = [pct(s[i:i + size], 0.99) / pct(f, 0.99) for i in range(0, len(s), size)
                 if len(s[i:i + size]) == size]
    few = "" if len(s) >= 200 else f" (only {len(s)} samples: p99 of under 200 is noise)"
    ok = verdict(Verdict(
        "bench_decision_latency", f"crossover push -> order POST p99, {len(s)} samples{few}",
        f"{pct(s, 0.99):.2f} ms", f"{pct(f, 0.99):.2f} ms p99", f"{ratio:.2f}x",
        spread(per_round), "<= 1.5x", ratio <= 1.5 and len(s) >= 200))
    trips = probe.redis_trips
    med = statistics.median(trips)
    print(f"Redis round trips push -> POST: median {med:g}, min {min(trips)}, max {max(trips)} "
          f"(a max above the median can be another task's command in the window)")
    ok &= verdict(Verdict(
        "bench_decision_latency", "Redis round trips between the push and the POST",
        f"{med:g} (median)", "1 (the write-ahead alone)", f"{med:g}",
        f"{min(trips)}-{max(trips)}", "<= 1", med <= 1))
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crossovers", type=int, default=200, help="push -> order samples")
    ap.add_argument("--speed", type=float, default=3000.0)
    ap.add_argument("--ma", type=int, nargs=2, default=[3, 10], metavar=("SHORT", "LONG"),
                    help="moving averages: short ones cross often, so samples come quickly")
    ap.add_argument("--rounds", type=int, default=4, help="the samples split for the spread")
    ap.add_argument("--floor-every-ms", type=float, default=25.0)
    ap.add_argument("--timeout-s", type=float, default=300.0)
    a = ap.parse_args()
    if a.crossovers < 2 or a.rounds < 1 or a.speed <= 0 or a.floor_every_ms <= 0:
        ap.error("--crossovers 2 or more; --rounds, --speed, --floor-every-ms above 0")
    sys.exit(asyncio.run(main(a)))
