"""One case of the hostile-exchange campaign: a private redis-server, the simulator in this
process with the case's faults, a real daemon process (mode live, the simulator's keys) with
a fake systemd notify socket, run for a bounded time, then SIGTERM; what it left behind is
compared with the exchange's own records (bench/hostile_judge.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from bench.hostile_cases import Case, Ready
from daemon.adapters.redis_records import StoredState
from daemon.adapters.redis_store import RedisStore
from daemon.domain.models import Fill
from daemon.local_redis import LocalRedis
from daemon.sim import Realism, SimConfig, Simulator
from daemon.sim.push import CH_DEALS, CH_ORDERS, KLINE_PREFIX
from tests.support.fake_systemd import FakeSystemd

PREFIX = "bot:QRLUSDT:"
MAX_DEVIATION_PCT = Decimal(5)
STOP_LIMIT_S = 20.0
# a stream may be down for ws_stale_after_s + 2 x (backoff + open + ack timeouts) = 3 + 2 x
# (2 + 1.5 + 1.5) = 13 s before the daemon must call itself unhealthy; +2 s for its watchdog
SILENT_AFTER_S = 15.0


@dataclass(frozen=True)
class Tree:
    """The daemon to run: its source tree and that tree's python."""

    path: Path
    python: Path
    runtime_keys: frozenset[str]

    @classmethod
    def of(cls, path: Path) -> Tree:
        python = path / ".venv" / "bin" / "python"
        if not python.is_file():
            raise SystemExit(f"error: {python} not found (run scripts/bootstrap in {path})")
        out = subprocess.run(
            [str(python), "-c", "from daemon.config import RuntimeSettings as R; "
             "print(' '.join(R.model_fields))"], cwd=path, capture_output=True, text=True,
            check=True)
        return cls(path, python, frozenset(out.stdout.split()))


@dataclass
class Observed:
    """What the runner saw while the case ran."""

    sent: list[tuple[dict[str, str], Decimal]] = field(default_factory=list)  # params, market
    samples: list[tuple[float, bool, bool, bool]] = field(default_factory=list)
    # (time, market stream alive, user stream alive, watchdog fed in the last 2 s)
    ready_at: float | None = None
    exit_before_stop: int | None = None
    exit_on_stop: int | None = None
    hung: bool = False
    log: str = ""
    reached: int = 0  # bad answers the simulator gave (REST cases)
    state: StoredState | None = None
    fills: list[Fill] = field(default_factory=list)
    state_error: str | None = None
    venue_orders: list[dict[str, Any]] = field(default_factory=list)
    venue_trades: list[dict[str, Any]] = field(default_factory=list)
    trade_ids: list[tuple[str, str]] = field(default_factory=list)
    qrl_balance: Decimal = Decimal(0)
    stream_kinds: dict[str, set[str]] = field(default_factory=dict)


def config(sim: Simulator, redis_url: str, tree: Tree) -> dict[str, Any]:
    """A live config that trades often (its first order sells about 200 USDT of the 500 USDT
    of QRL: the target is 30 %), with short websocket limits (so a deaf stream must
    show within a run), a 5 s listenKey keepalive and balance refresh (so PUT userDataStream
    and GET account are asked during the run). Only keys ``tree`` knows."""
    runtime: dict[str, Any] = {}
    if "startup_timeout_s" in tree.runtime_keys:
        runtime["startup_timeout_s"] = 10
    return {
        "mode": "live",
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "request_timeout_ms": 1500,
                     "ws_ping_interval_s": 1, "ws_stale_after_s": 3,
                     "ws_reconnect_max_backoff_s": 2, "listen_key_keepalive_s": 5,
                     "balance_refresh_s": 5},
        "redis": {"url": redis_url, "lease_ttl_s": 2},
        "schedule": {"interval_s": 1},
        "strategy": {"name": "symmetric", "threshold": 0.001, "ratio": "0.3",
                     "initial_cost_basis": "0.05"},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 100000, "min_notional": 1,
                 "max_price_deviation_pct": int(MAX_DEVIATION_PCT), "stale_after_s": 60},
        "execution": {"order_timeout_s": 1, "poll_max_interval_s": 0.3,
                      "unknown_order_retries": 3, "not_found_grace_s": 1.2,
                      "order_type": "marketable_limit"},
        "health": {"heartbeat_interval_s": 0.5},
        "log": {"level": "INFO"},
        **({"runtime": runtime} if runtime else {}),
    }


def sim_config(seed: int) -> SimConfig:
    """Two matching steps a second, each filling half of what is left of an order, so orders
    stay open a while (asked about, cancelled at the 1 s timeout); MEXC's -2013 window after
    a create is short (as the daemon-process tests have it)."""
    return SimConfig(seed=seed, speed=60.0, balances={"QRL": "10000", "USDT": "500"},
                     partial_fill_ratio="0.5", max_push_hz=2.0,
                     realism=replace(Realism(), not_found_after_create_s=1.0))


async def run_case(case: Case, tree: Tree, seconds: float, seed: int) -> Observed:
    seen = Observed()
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        redis = LocalRedis()
        await asyncio.to_thread(redis.start)
        try:
            async with Simulator(sim_config(seed)) as sim:
                await _drive(case, tree, sim, redis.url, Path(tmp), seconds, seen)
                await _collect(sim, redis.url, seen)
        finally:
            await asyncio.to_thread(redis.stop)
    return seen


async def _drive(case: Case, tree: Tree, sim: Simulator, redis_url: str, tmp: Path,
                 seconds: float, seen: Observed) -> None:
    case.arm(sim)

    async def before_order(params: dict[str, str]) -> None:
        seen.sent.append((dict(params), sim.price()))

    sim.hooks.before_order = before_order
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config(sim, redis_url, tree)))
    systemd = FakeSystemd(str(tmp / "notify.sock"))
    systemd.watch()
    env = dict(os.environ, MEXC_API_KEY=sim.api_key, MEXC_API_SECRET=sim.api_secret,
               NOTIFY_SOCKET=systemd.path, WATCHDOG_USEC="2000000")
    env.pop("WATCHDOG_PID", None)
    log = tmp / "daemon.log"
    ready = Ready()
    proc = _spawn(tree, cfg, log, env)
    driver = asyncio.create_task(case.drive(sim, ready)) if case.drive else None
    try:
        await _watch(proc, sim, systemd, ready, seconds, seen)
        await _stop(proc, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if driver is not None:
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
        systemd.close()
        seen.log = log.read_text(errors="replace")
        seen.reached = sum(sim.bad_reply_seen.values())


def _spawn(tree: Tree, cfg: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(tree.python), "-m", "daemon", "run", "-c", str(cfg)],
                                cwd=tree.path, stdout=out, stderr=out, env=env)


async def _watch(proc: subprocess.Popen[bytes], sim: Simulator, systemd: FakeSystemd,
                 ready: Ready, seconds: float, seen: Observed) -> None:
    """Until ``seconds`` have passed or the daemon exited: when it said READY, and twice a
    second whether each stream is alive at the simulator and whether the watchdog is fed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            seen.exit_before_stop = proc.returncode
            return
        now = time.monotonic()
        msgs = systemd.drain()
        if seen.ready_at is None and any("READY=1" in m for m in msgs):
            seen.ready_at = ready.at = now
            ready.event.set()
        fed = any(now - t <= 2.0 for t in systemd.pings())
        market, user = _streams(sim, seen.stream_kinds)
        seen.samples.append((now, market, user, fed))
        await asyncio.sleep(0.5)


def _streams(sim: Simulator, kinds: dict[str, set[str]]) -> tuple[bool, bool]:
    """Is there a connection holding every channel of its kind ever subscribed (market:
    kline and other public channels; user: the private ones)?"""
    alive = {"market": False, "user": False}
    for conn in sim.hub.conns:
        kind = "user" if conn.listen_key else "market"
        subs = set(conn.subs)
        if kind == "market" and not any(s.startswith(KLINE_PREFIX) for s in subs):
            continue
        if kind == "user" and not subs & {CH_ORDERS, CH_DEALS}:
            continue
        known = kinds.setdefault(kind, set())
        known |= subs
        if subs >= known:
            alive[kind] = True
    return alive["market"], alive["user"]


async def _stop(proc: subprocess.Popen[bytes], seen: Observed) -> None:
    if seen.exit_before_stop is not None:
        return
    proc.send_signal(signal.SIGTERM)
    for _ in range(int(STOP_LIMIT_S / 0.1)):
        if proc.poll() is not None:
            seen.exit_on_stop = proc.returncode
            return
        await asyncio.sleep(0.1)
    seen.hung = True


async def _collect(sim: Simulator, redis_url: str, seen: Observed) -> None:
    sim.pause()
    seen.venue_orders = sim.orders()
    seen.venue_trades = sim.my_trades(sim.cfg.symbol)
    seen.trade_ids = sim.trade_ids(sim.cfg.symbol)
    free, locked = sim.balances()[sim.cfg.base_asset]
    seen.qrl_balance = free + locked
    store = RedisStore(redis_url, PREFIX)
    try:
        await store.connect()
        seen.state = await store.load_state(adopt=False)
        seen.fills = await store.get_fills()
    except Exception as exc:  # a daemon that never wrote its books: nothing to compare
        seen.state_error = f"{type(exc).__name__}: {exc}"
    finally:
        await store.close()
