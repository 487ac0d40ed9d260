"""The parity test's two halves (issue 13). The daemon: the real process (`rebalancer run`,
mode live) against the simulator replaying a candle file, in lockstep so that every decision
happens at a known candle time; its decisions (plan history) and its final books read back in
the shape the backtest produces (``daemon.backtest.result``). The backtest: the same file, the
same config and starting balances, through ``daemon.backtest`` (``run_backtest_like``).

Lockstep. The simulator's clock is paused for the whole run and moved by the test only:
straight to the boundary that closes each candle on which MA_short/MA_long cross (found with
the daemon's own ``offline_series``), then the test waits until the daemon has recorded its
plan and, after a trade, until the order is settled, its fills booked and its balances seen.
While paused the simulator still pushes the forming candle (its price does not move), so the
daemon's price is fresh and its order meets the book of that instant.

The series are shaped (``_write``) so that the first price of a candle is the close of the one
before it: the daemon decides on the forming candle's price right after a candle closed, the
backtest on that candle's close, and these are then the same number.

The daemon's schedule is left out: ``schedule.interval_s`` runs on its own clock, which a
paused simulator does not move with candle time; the runs set it to 86400 s (a UTC midnight,
which a run avoids), so that the daemon evaluates at crossovers only.
"""

from __future__ import annotations

import asyncio
import csv
import math
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from daemon.backtest.candles_csv import read_candles
from daemon.backtest.result import Decision, StrategyRun
from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import from_settings, sim_rules
from daemon.config import load_config
from daemon.domain.candles import offline_series
from daemon.domain.cost_basis import CostBasis
from daemon.domain.models import Candle, Fill
from daemon.domain.money import floor_to
from daemon.sim import Realism, ReplayMarket, SimConfig, Simulator
from tests.support.daemon_process import (
    daemon_env,
    kill_left,
    live_config,
    start_daemon,
    stored_state,
)
from tests.support.e2e_harness import stored_fills, wait_for
from tests.support.market_series import load_csv
from tests.support.store_builders import booked_ids

INTERVAL_MS = 300_000  # 5-minute candles
PREFIX = "bot:QRLUSDT:"
HEADER = ["open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms",
          "quote_volume"]
# MEXC's -2013 window after a create, short so that the daemon's not_found grace stays short
# a trade plan the executor did not send: recorded as a HOLD plan with this trigger (a refused
# price), or only logged with one of these
REFUSAL = "order_price_check"
NOT_SENT = ("order skipped: below the minimum", "order NOT sent")
REALISM = replace(Realism(), not_found_after_create_s=0.2)


# -- the series ------------------------------------------------------------------------------
def write_series(path: Path, *, first_open_ms: int, count: int, seed: int,
                 start_price: str = "0.05", decimals: int = 5, trend: float = 0.002,
                 volatility: float = 0.003) -> list[Candle]:
    """A seeded 5-minute series with trends and chop (MA7/MA25 cross every few hours) in the
    ../shared/data CSV layout, written to ``path`` in the shape ``_shaped`` describes."""
    rng = random.Random(seed)
    log_price, regime, left = math.log(float(start_price)), 0, 0
    bars: list[tuple[Decimal, Decimal, Decimal, Decimal]] = []
    for _ in range(count):
        if left <= 0:
            regime, left = rng.choice((-1, 0, 1)), rng.randint(8, 30)
        left -= 1
        log_price += regime * trend + rng.gauss(0.0, volatility)
        close = max(floor_to(Decimal(repr(math.exp(log_price))), decimals),
                    Decimal(1).scaleb(-decimals))
        wick = Decimal(repr(abs(rng.gauss(0.0, 0.002))))
        volume = floor_to(Decimal(repr(10_000 * math.exp(rng.gauss(0.0, 0.4)))), 2)
        bars.append((floor_to(close * (1 + wick), decimals),
                     floor_to(close * (1 - wick), decimals), close, volume))
    return _write(path, first_open_ms, floor_to(Decimal(start_price), decimals), bars)


def shape_series(source: Path, path: Path, *, first_open_ms: int, start: int, count: int,
                 rescale: str, decimals: int = 5) -> list[Candle]:
    """Candles ``start .. start+count`` of a ../shared/data file, prices times ``rescale``,
    re-timed to consecutive 5-minute candles from ``first_open_ms`` and written to ``path`` in
    the shape ``_shaped`` describes (the highs, lows and closes are the file's)."""
    factor = Decimal(rescale)
    rows = load_csv(source, start, start + count)
    assert len(rows) == count, (source, start, count, len(rows))
    bars = [(floor_to(r.high * factor, decimals), floor_to(r.low * factor, decimals),
             floor_to(r.close * factor, decimals), r.volume) for r in rows]
    return _write(path, first_open_ms, floor_to(rows[0].open * factor, decimals), bars)


def _write(path: Path, first_open_ms: int, first_open: Decimal,
           bars: list[tuple[Decimal, Decimal, Decimal, Decimal]]) -> list[Candle]:
    """Write (high, low, close, volume) bars as candles shaped so that the price right after a
    candle closes is its close: each candle opens at the previous close, and an up candle's
    low and a down candle's high are its open (the simulator's intra-candle path,
    O -> L -> H -> C up and O -> H -> L -> C down, then stays flat for the first third)."""
    previous = first_open
    rows: list[list[str]] = []
    for i, (high, low, close, volume) in enumerate(bars):
        if close >= previous:
            low, high = previous, max(high, close, previous)
        else:
            high, low = previous, min(low, close)
        open_ms = first_open_ms + i * INTERVAL_MS
        rows.append([str(open_ms), str(previous), str(high), str(low), str(close), str(volume),
                     str(open_ms + INTERVAL_MS), str(floor_to(volume * close, 8))])
        previous = close
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    tmp.replace(path)
    return load_csv(path)


def crossover_closes(candles: list[Candle], first: int, short: int, long: int,
                     deadband: Decimal = Decimal(0)) -> list[int]:
    """Indexes (>= ``first``, not the last candle) of the candles whose close is a crossover:
    the daemon evaluates once each of them closes (``evaluate_on_crossover``)."""
    closed = offline_series(candles, short, long, deadband)
    return [i for i, c in enumerate(closed)
            if i >= first and i < len(candles) - 1 and c.crossover is not None]


# -- what the daemon did ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DaemonBooks:
    """The daemon's books at the end (from Redis) and the exchange's balances (totals)."""

    avg_cost: Decimal | None
    qty_covered: Decimal
    realized_pnl: Decimal
    core_floor: Decimal | None
    trades_total: int
    base: Decimal
    quote: Decimal


@dataclass(frozen=True, slots=True)
class DaemonRun:
    decisions: tuple[Decision, ...]  # time_ms: the close time (boundary) of the deciding candle
    prices: tuple[Decimal | None, ...]  # the price each plan used
    books: DaemonBooks
    fills: tuple[Fill, ...]
    plans: tuple[dict[str, Any], ...]  # the plan records as Redis holds them, oldest first
    log: str


@dataclass(frozen=True, slots=True)
class ParitySetup:
    """One parity run: the candle file, where the replay starts (candles before it are the
    daemon's backfilled history), the starting balances and the config sections that differ
    from ``daemon_process.live_config``."""

    csv: Path
    start_index: int
    balances: dict[str, str]
    config: dict[str, dict[str, Any]]
    seed: int = 5


class Lockstep:
    """The daemon process and the paused simulator it trades against (``lockstep``)."""

    def __init__(self, sim: Simulator, proc: subprocess.Popen[bytes], log: Path,
                 client: aioredis.Redis, redis_url: str) -> None:
        self.sim, self.proc, self.log, self.client = sim, proc, log, client
        self.redis_url = redis_url

    def move_to(self, t_ms: int) -> None:
        """Set the paused simulator's clock to exactly ``t_ms`` (never backwards)."""
        delta = t_ms - self.sim.now_ms()
        assert delta >= 0, (t_ms, self.sim.now_ms())
        self.sim.clock.advance(delta)
        assert self.sim.now_ms() == t_ms

    async def wait_settled(self, evaluations: int) -> None:
        """Until the daemon has recorded ``evaluations`` decisions and has acted on each
        trade among them (an order, or a plan saying why none was sent, or a log line saying
        it was skipped), that order is over at the exchange and in Redis, every fill is
        booked and its heartbeat shows the exchange's balances (the next decision starts from
        them)."""
        deadline = time.monotonic() + 20
        while not await self._settled(evaluations):
            assert self.proc.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, (
                f"decision {evaluations} did not settle within 20 s: "
                f"{self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.02)

    async def _settled(self, evaluations: int) -> bool:
        plans = await self.plans()
        decisions = [p for p in plans if p["trigger"] != REFUSAL]
        if len(decisions) < evaluations:
            return False
        trades = sum(1 for p in decisions if p["action"] != "HOLD")
        acted = (await self.client.hlen(PREFIX + "orders") + len(plans) - len(decisions)
                 + sum(self.log.read_text().count(s) for s in NOT_SENT))
        return acted >= trades and await _books_settled(self.client, self.sim)

    async def plans(self) -> list[dict[str, Any]]:
        """The plan records in Redis, oldest first."""
        raw = await self.client.lrange(PREFIX + "plan_history", 0, -1)
        return [orjson.loads(r) for r in reversed(raw)]

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        await wait_for(lambda: self.proc.poll() is not None, 15, "the daemon to stop")
        assert self.proc.returncode == 0, self.log.read_text()[-3000:]


@asynccontextmanager
async def lockstep(setup: ParitySetup, redis_url: str, tmp_path: Path) -> AsyncIterator[
        Lockstep]:
    """The simulator replaying ``setup.csv`` with its clock paused a few ms into candle
    ``start_index``, and the daemon process trading against it, up (lease, books, streams)."""
    await _clear_of_wall_clock_schedule()
    cfg = SimConfig(seed=setup.seed, speed=1.0, balances=setup.balances, realism=REALISM,
                    market=ReplayMarket(path=setup.csv, start_index=setup.start_index),
                    kline_push_interval_s=0.02)
    async with Simulator(cfg) as sim:
        sim.pause()  # a few ms into the first replayed candle (real ms: speed 1)
        path = live_config(sim, redis_url, tmp_path / "parity.yaml", **setup.config)
        log = tmp_path / "parity-daemon.log"
        proc = start_daemon(path, log, daemon_env(sim))
        client = aioredis.Redis.from_url(redis_url)
        try:
            await _wait_trading(client, proc)
            yield Lockstep(sim, proc, log, client, redis_url)
        finally:
            await client.aclose()
            kill_left(proc)


async def run_daemon(setup: ParitySetup, redis_url: str, tmp_path: Path) -> DaemonRun:
    """Run the daemon process in lockstep over ``setup.csv`` from ``start_index`` to its last
    candle; return its decisions and final books."""
    candles = load_csv(setup.csv)
    strategy = setup.config.get("strategy", {})
    steps = crossover_closes(candles, setup.start_index, int(strategy.get("ma_short", 7)),
                             int(strategy.get("ma_long", 25)),
                             Decimal(str(strategy.get("deadband", 0))))
    boundaries = [candles[i].open_time_ms + INTERVAL_MS for i in steps]
    async with lockstep(setup, redis_url, tmp_path) as run:
        assert run.sim.now_ms() - candles[setup.start_index].open_time_ms < INTERVAL_MS // 3
        for n, boundary in enumerate(boundaries, start=1):
            run.move_to(boundary)
            await run.wait_settled(n)
        run.move_to(candles[-1].open_time_ms)  # every candle but the last has closed
        await asyncio.sleep(0.3)
        await run.stop()
        plans = await run.plans()
        books = await _books(redis_url, run.sim)
        fills, _ = await stored_fills(redis_url, PREFIX)
    made = [p for p in plans if p["trigger"] != REFUSAL]
    assert len(made) == len(boundaries), (len(made), len(boundaries), made[len(boundaries):])
    times: list[int] = []  # the candle time of each plan (a refusal: its decision's)
    n = -1
    for p in plans:
        n += p["trigger"] != REFUSAL
        times.append(boundaries[n])
    decisions = tuple(Decision(t, p["trigger"], p["action"], Decimal(p["quantity"]),
                               p["reason_code"]) for t, p in zip(times, plans, strict=True))
    prices = tuple(None if p["price"] is None else Decimal(p["price"]) for p in plans)
    return DaemonRun(decisions, prices, books,
                     tuple(sorted(fills, key=lambda f: (f.time_ms, f.trade_id))), tuple(plans),
                     run.log.read_text())


async def _clear_of_wall_clock_schedule() -> None:
    """The daemon's schedule (86400 s, aligned) fires at a wall-clock UTC midnight: a run that
    would straddle one waits until it has passed."""
    left = 86_400 - time.time() % 86_400
    if left < 90:
        await asyncio.sleep(left + 1)


async def _wait_trading(client: aioredis.Redis, proc: subprocess.Popen[bytes]) -> None:
    async def state() -> str | None:
        raw = await client.get(PREFIX + "heartbeat")
        return None if raw is None else str(orjson.loads(raw).get("state"))

    deadline = time.monotonic() + 25
    while await state() != "trading":
        assert proc.poll() is None, "the daemon exited before it was up"
        assert time.monotonic() < deadline, "the daemon was not trading within 25 s"
        await asyncio.sleep(0.05)


async def _books_settled(client: aioredis.Redis, sim: Simulator) -> bool:
    if any(o["status"] in ("NEW", "PARTIALLY_FILLED") for o in sim.orders()):
        return False
    if await client.scard(PREFIX + "orders:open"):
        return False
    if len(await booked_ids(client, PREFIX)) != len(sim.my_trades(sim.cfg.symbol)):
        return False
    raw = await client.get(PREFIX + "heartbeat")
    if raw is None:
        return False
    seen = orjson.loads(raw)["books"]["balances"]
    for asset, (free, locked) in sim.balances().items():
        mine = seen.get(asset, {"free": "0", "locked": "0"})
        if (Decimal(mine["free"]), Decimal(mine["locked"])) != (free, locked):
            return False
    return True


async def _books(redis_url: str, sim: Simulator) -> DaemonBooks:
    state = await stored_state(redis_url, PREFIX)
    cost = CostBasis.from_dict(state.cost_basis) if state.cost_basis else CostBasis()
    balances = sim.balances()
    base, quote = (sum(balances.get(a, (Decimal(0), Decimal(0))), Decimal(0))
                   for a in (sim.cfg.base_asset, sim.cfg.quote_asset))
    return DaemonBooks(cost.avg_cost, cost.qty, cost.realized_pnl, state.core_floor,
                       state.counters.trades_total, base, quote)



# -- the backtest on the same series ---------------------------------------------------------
def run_backtest_like(setup: ParitySetup, config: Path, fill_model: str = "sim") -> StrategyRun:
    """The backtest (``daemon.backtest``, its Python API) on ``setup.csv`` with the config the
    daemon ran (``config``), its starting balances and the simulator's exchange rules; the
    candles before ``start_index`` only fill the window (the daemon's backfill)."""
    settings = load_config(config)
    series = read_candles(setup.csv)
    rules = sim_rules(settings.symbol, SimConfig().quote_precision)
    replay = Replay(rules, series.candles, series.interval_ms, series.gaps,
                    Decimal(setup.balances[rules.base_asset]),
                    Decimal(setup.balances[rules.quote_asset]), fill_model,
                    warmup=setup.start_index)
    result = run_backtest(replay, [from_settings("config", settings)])
    return result.runs[0]
