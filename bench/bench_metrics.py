"""What the metrics cost the decision latency: one engine, one run, "off" (the decision hook a
no-op, nobody scraping) and "on" (the hook recording the evaluations counter and the latency
histogram, and /metrics plus /healthz scraped over HTTP ``--scrape-hz`` times a second: 1/s is
15 times the README's scrape_interval of 15 s) alternating, so that market, simulator and the
machine's load are the same for both.

  decision        from the start of a decision (snapshot, planner) to its plan recorded in
                  Redis: ``engine._decide`` called back to back for ``--seconds``, the mode
                  flipping after each decision
  push -> order   bench_decision_latency's measure: a crossover candle's kline push to the
                  order request leaving the process (nothing subtracted), the
                  mode flipping after each crossover; Min1 candles, so crossovers come 5x as
                  often as with the default Min5
Each printed off / on side by side, p50 and p99; target: "on" adds under 5% to the p99. Also
printed: the CPU time of one scrape (what a scrape can hold a decision up by). The notification
queue (issue 15, another branch) is not in this tree: only the metrics are measured.
Run: .venv/bin/python bench/bench_metrics.py [--seconds 30] [--crossovers 100] [--scrape-hz 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import aiohttp
from bench_decision_latency import Probe, instrument
from prometheus_client import generate_latest
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials, LogSettings, Settings, parse_settings
from daemon.local_redis import LocalRedis
from daemon.logging_setup import configure_logging
from daemon.runtime.compose import build_engine
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.supervisor import Supervisor
from daemon.sim import RandomWalkMarket, SimConfig, Simulator

MODES = ("off", "on")


class Modes:
    """The current mode, and the samples taken in each."""

    def __init__(self, engine: RebalancerEngine) -> None:
        self.engine = engine
        self.mode = "off"
        self.decided = engine.metrics.decided
        self.decisions: dict[str, list[float]] = {m: [] for m in MODES}
        self.orders: dict[str, list[float]] = {m: [] for m in MODES}
        self.scrapes = 0
        self.on = asyncio.Event()
        self.set("off")

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode == "on":
            self.on.set()
        else:
            self.on.clear()
        hook: Any = self.decided if mode == "on" else _no_hook
        self.engine.metrics.decided = hook  # type: ignore[method-assign]

    def flip(self) -> None:
        self.set("on" if self.mode == "off" else "off")


def _no_hook(_reason: str, _trigger: str, _started: float) -> None:
    return None


async def scraper(url: str, modes: Modes, hz: float) -> None:
    """/metrics and /healthz over HTTP, as Prometheus and a probe would, ``hz`` times a
    second, each started while the mode is "on" (it waits for it)."""
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(1 / hz)
            await modes.on.wait()
            for path in ("/metrics", "/healthz"):
                async with session.get(url + path) as resp:
                    await resp.read()
            modes.scrapes += 1


async def decisions(engine: RebalancerEngine, modes: Modes, seconds: float) -> None:
    """``_decide`` back to back (a plan recorded each time, nothing sent), the mode flipping
    after each one, so that whatever else loads the machine meets both modes alike."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        mode = modes.mode
        start = time.perf_counter()
        await engine._decide("bench")
        modes.decisions[mode].append((time.perf_counter() - start) * 1000)
        modes.flip()
    modes.set("off")


async def crossovers(probe: Probe, modes: Modes, wanted: int) -> None:
    """Flip the mode after each push -> order sample, booked under the mode it was taken in."""
    seen = 0
    while seen < wanted:
        if len(probe.samples_ms) > seen:
            modes.orders[modes.mode].extend(probe.samples_ms[seen:])
            seen = len(probe.samples_ms)
            modes.flip()
        await asyncio.sleep(0.001)


def bench_settings(sim: Simulator, redis_url: str, interval: str) -> Settings:
    return parse_settings({
        "mode": "live",
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                     "kline_interval": interval},
        "redis": {"url": redis_url},
        "schedule": {"interval_s": 3600},
        "strategy": {"name": "symmetric", "threshold": 0},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 1000000,
                 "max_price_deviation_pct": 100, "min_notional": 1},
        "execution": {"order_timeout_s": 2},
        "health": {"listen": "127.0.0.1:0"}})


async def main(args: argparse.Namespace) -> None:
    configure_logging(LogSettings(level="WARNING"))
    probe = Probe()
    probe.wanted = args.crossovers
    with LocalRedis() as redis:
        cfg = SimConfig(seed=3, speed=args.speed,
                        balances={"QRL": "1000000", "USDT": "50000"},
                        market=RandomWalkMarket(volatility_per_min=0.004, trend_per_min=0.002))
        async with Simulator(cfg) as sim:
            settings = bench_settings(sim, redis.url, "Min1")
            creds = Credentials(api_key=SecretStr(sim.api_key),
                                api_secret=SecretStr(sim.api_secret))
            session = aiohttp.ClientSession(trace_configs=[probe.trace()])
            rest = MexcRest(settings.exchange, creds, session=session)
            engine = await build_engine(settings, creds, Supervisor(), rest=rest)
            await engine.start()
            assert engine.http is not None
            modes = Modes(engine)
            scrape = asyncio.create_task(scraper(engine.http.url, modes, args.scrape_hz))
            engine.settings.current = settings.model_copy(update={"schedule": settings.schedule
                                                                   .model_copy(update={
                                                                       "evaluate_on_crossover":
                                                                       False})})
            runner = asyncio.create_task(engine.run())  # the heartbeat keeps the lease
            await decisions(engine, modes, args.seconds)
            engine.settings.current = settings  # crossovers evaluate again
            instrument(engine, probe)
            try:
                await asyncio.wait_for(crossovers(probe, modes, args.crossovers), 900)
            except TimeoutError:
                print("stopped after 900 s without enough crossovers")
            scrape_ms = scrape_cost_ms(engine)
            for task in (runner, scrape):
                task.cancel()
            await asyncio.gather(runner, scrape, return_exceptions=True)
            await engine.stop()
            await session.close()
    report(modes, args.scrape_hz, scrape_ms)


def scrape_cost_ms(engine: RebalancerEngine, n: int = 200) -> float:
    """Mean time of one /metrics collection and rendering (no HTTP), in ms."""
    start = time.perf_counter()
    for _ in range(n):
        generate_latest(engine.metrics.registry)
    return (time.perf_counter() - start) * 1000 / n


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def report(modes: Modes, hz: float, scrape_ms: float) -> None:
    print(f"on = decision hook + /metrics and /healthz scraped {hz:g}/s over HTTP "
          f"({modes.scrapes} scrapes); one /metrics rendering {scrape_ms:.3f} ms of CPU")
    print("notifications: not measured (the notification queue is not in this tree)")
    print(f"{'(ms)':16}{'samples off/on':>16}{'p50 off':>10}{'p50 on':>10}{'p99 off':>10}"
          f"{'p99 on':>10}{'p99 added':>11}")
    verdicts = []
    for name, data in (("decision", modes.decisions), ("push -> order", modes.orders)):
        off, on = data["off"], data["on"]
        if len(off) < 2 or len(on) < 2:
            print(f"{name:16}not enough samples ({len(off)}/{len(on)})")
            continue
        p99_off, p99_on = pct(off, 0.99), pct(on, 0.99)
        added = (p99_on - p99_off) / p99_off * 100
        verdicts.append(added < 5)
        few = "  (p99 of under 100 samples: their largest, mostly noise)" \
            if min(len(off), len(on)) < 100 else ""
        print(f"{name:16}{f'{len(off)}/{len(on)}':>16}{statistics.median(off):>10.3f}"
              f"{statistics.median(on):>10.3f}{p99_off:>10.3f}{p99_on:>10.3f}"
              f"{added:>+10.1f}%{few}")
    print("target: metrics add under 5% to the p99: "
          f"{'MET' if verdicts and all(verdicts) else 'NOT MET'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="of back-to-back decisions")
    ap.add_argument("--crossovers", type=int, default=100)
    ap.add_argument("--speed", type=float, default=3000.0)
    ap.add_argument("--scrape-hz", type=float, default=1.0)
    asyncio.run(main(ap.parse_args()))
