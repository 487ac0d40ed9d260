"""From the kline push that closes a crossover candle to the order request leaving the process.

The daemon's engine runs in-process against the simulator (random walk, accelerated) and a
private redis-server, in live mode with the symmetric strategy at threshold 0 so that every
crossover evaluation trades. Timestamps:
  t0  the binary frame reaches MarketFeed (before protobuf decoding)
  t1  aiohttp starts sending POST /api/v3/order (TraceConfig on_request_start)
The bookTicker round trip made in between (the simulator's own time plus loopback HTTP) is
measured the same way and subtracted, as the target excludes the simulator's own time.
Run: .venv/bin/python bench/bench_decision_latency.py [--crossovers 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials, LogSettings, parse_settings
from daemon.local_redis import LocalRedis
from daemon.logging_setup import configure_logging
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import RandomWalkMarket, SimConfig, Simulator


class Probe:
    def __init__(self) -> None:
        self.frame_t0 = 0.0
        self.pending: float | None = None
        self.book_start = 0.0
        self.book_rtt = 0.0
        self.samples_ms: list[float] = []
        self.raw_ms: list[float] = []
        self.wanted = 0
        self.enough = asyncio.Event()

    def trace(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()

        async def start(_s: Any, _c: SimpleNamespace, p: aiohttp.TraceRequestStartParams) -> None:
            now = time.perf_counter()
            if p.url.path.endswith("/ticker/bookTicker"):
                self.book_start = now
            elif p.method == "POST" and p.url.path.endswith("/api/v3/order") and self.pending:
                raw = (now - self.pending) * 1000
                self.raw_ms.append(raw)
                self.samples_ms.append(raw - self.book_rtt * 1000)
                self.pending = None
                if len(self.samples_ms) >= self.wanted:
                    self.enough.set()

        async def end(_s: Any, _c: SimpleNamespace, p: aiohttp.TraceRequestEndParams) -> None:
            if p.url.path.endswith("/ticker/bookTicker"):
                self.book_rtt = time.perf_counter() - self.book_start

        tc.on_request_start.append(start)
        tc.on_request_end.append(end)
        return tc


def instrument(engine: RebalancerEngine, probe: Probe) -> None:
    feed = engine.market
    on_push = feed.stream._on_push

    async def timed_push(frame: Any) -> None:
        probe.frame_t0 = time.perf_counter()
        await on_push(frame)

    feed.stream._on_push = timed_push
    original = engine.on_crossover

    async def on_crossover(event: Any) -> None:
        probe.pending = probe.frame_t0
        probe.book_rtt = 0.0
        await original(event)

    feed._on_crossover = on_crossover


async def main(crossovers: int, speed: float) -> None:
    configure_logging(LogSettings(level="WARNING"))
    probe = Probe()
    probe.wanted = crossovers
    with LocalRedis() as redis:
        cfg = SimConfig(seed=3, speed=speed, balances={"QRL": "1000000", "USDT": "50000"},
                        market=RandomWalkMarket(volatility_per_min=0.004, trend_per_min=0.002))
        async with Simulator(cfg) as sim:
            settings = parse_settings({
                "mode": "live",
                "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url},
                "redis": {"url": redis.url},
                "schedule": {"interval_s": 3600},
                "strategy": {"name": "symmetric", "threshold": 0},
                "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 1000000,
                         "max_price_deviation_pct": 100, "min_notional": 1},
                "execution": {"order_timeout_s": 2}})
            creds = Credentials(api_key=SecretStr(sim.api_key),
                                api_secret=SecretStr(sim.api_secret))
            session = aiohttp.ClientSession(trace_configs=[probe.trace()])
            rest = MexcRest(settings.exchange, creds, session=session)
            engine = await build_engine(settings, creds, Supervisor(), rest=rest)
            await engine.start()
            instrument(engine, probe)
            runner = asyncio.create_task(engine.run())
            try:
                await asyncio.wait_for(probe.enough.wait(), 600)
            except TimeoutError:
                print("stopped after 600 s without enough crossovers")
            await engine.stop()
            runner.cancel()
            await session.close()
    report(probe, crossovers)


def report(probe: Probe, wanted: int) -> None:
    s = sorted(probe.samples_ms)
    if not s:
        print("no crossover produced an order; nothing measured")
        return
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    print(f"crossovers measured      {len(s)} (wanted {wanted})")
    print(f"push -> order request    median {statistics.median(s):.2f} ms   p99 {p99:.2f} ms"
          f"   max {s[-1]:.2f} ms   (simulator bookTicker time excluded)")
    raw = sorted(probe.raw_ms)
    print(f"  including bookTicker   median {statistics.median(raw):.2f} ms   "
          f"p99 {raw[min(len(raw) - 1, int(len(raw) * 0.99))]:.2f} ms")
    print(f"target p99 < 5 ms: {'MET' if p99 < 5 else 'NOT MET'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crossovers", type=int, default=60)
    ap.add_argument("--speed", type=float, default=3000.0)
    a = ap.parse_args()
    asyncio.run(main(a.crossovers, a.speed))
