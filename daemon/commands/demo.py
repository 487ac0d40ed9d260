"""``rebalancer demo``: the whole product on one machine, no keys, no internet.

Starts a private redis-server, the MEXC simulator with its seeded market at an accelerated
speed, and the daemon in ``mode: live`` against it with a short schedule; prints where to
look; Ctrl-C (or SIGTERM) stops all three cleanly, the daemon first."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from daemon.errors import RebalancerError
from daemon.local_redis import LocalRedis, free_port

DEMO_API_KEY = "mx0vglDEMOKEY0000000"
DEMO_API_SECRET = "demo-secret-not-real-0000000000000"
DEMO_QRL, DEMO_USDT = "14000", "300"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the daemon against the built-in simulated exchange",
        description="Start a private redis-server, the MEXC simulator (seeded market) and the "
        "daemon in live mode against it. Ctrl-C stops everything.")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second (default 60: a 5-minute candle "
                   "every 5 s)")
    p.add_argument("--seed", type=int, default=7, help="market seed (default 7)")
    p.add_argument("--interval-s", type=int, default=20,
                   help="daemon evaluation interval in real seconds (default 20)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the demo config and logs go (default: a new temp dir)")
    p.set_defaults(handler=handle)


def demo_config(rest_url: str, ws_url: str, redis_url: str, interval_s: int) -> dict[str, Any]:
    return {
        "mode": "live",
        "symbol": "QRLUSDT",
        "exchange": {"rest_url": rest_url, "ws_url": ws_url, "ws_stale_after_s": 20},
        # Off balance (QRL is ~70% of the value) with a known cost below the market, so
        # the intelligent strategy has something to do within the first minute or two.
        "strategy": {"name": "intelligent", "profit_target": 0.01, "threshold": 0.01,
                     "initial_cost_basis": "0.047"},
        "risk": {"min_notional": 5, "max_order_notional": 200, "min_trade_interval_s": 10,
                 "max_trades_per_day": 1000, "max_price_deviation_pct": 20,
                 "stale_after_s": 60},
        "execution": {"order_timeout_s": 10, "client_order_prefix": "demo"},
        "schedule": {"interval_s": interval_s},
        "redis": {"url": redis_url},
        "health": {"heartbeat_interval_s": 5},
    }


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """Until ``url`` answers; RebalancerError when ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RebalancerError(f"the simulator exited at start (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RebalancerError(f"the simulator did not answer at {url} within {timeout_s}s")


def _stop(proc: subprocess.Popen[bytes] | None, name: str, grace_s: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        print(f"demo: {name} did not stop in {grace_s}s; killing it", file=sys.stderr)
        proc.kill()
        proc.wait()


def handle(args: argparse.Namespace) -> int:
    if args.speed <= 0 or args.interval_s <= 0:
        raise RebalancerError("demo: --speed and --interval-s must be positive")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rebalancer-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MEXC_SIM_API_KEY=DEMO_API_KEY, MEXC_SIM_API_SECRET=DEMO_API_SECRET,
               MEXC_API_KEY=DEMO_API_KEY, MEXC_API_SECRET=DEMO_API_SECRET)
    env.pop("NOTIFY_SOCKET", None)
    port = free_port()
    py = sys.executable
    sim: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    with LocalRedis() as redis:
        try:
            sim = subprocess.Popen(
                [py, "-m", "daemon", "sim", "--port", str(port), "--speed", str(args.speed),
                 "--seed", str(args.seed), "--balance", f"QRL={DEMO_QRL}", "--balance",
                 f"USDT={DEMO_USDT}"],
                env=env, start_new_session=True)
            rest_url = f"http://127.0.0.1:{port}"
            wait_http(rest_url + "/api/v3/ping", sim)
            cfg_path = workdir / "demo-config.yaml"
            cfg = demo_config(rest_url, f"ws://127.0.0.1:{port}/ws", redis.url, args.interval_s)
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            daemon = subprocess.Popen([py, "-m", "daemon", "run", "-c", str(cfg_path)], env=env,
                                      start_new_session=True)
            _banner(rest_url, redis.url, cfg_path, args)
            while not stopping and daemon.poll() is None and sim.poll() is None:
                time.sleep(0.2)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            print("\ndemo: stopping the daemon, the simulator and redis", file=sys.stderr)
            _stop(daemon, "the daemon")
            _stop(sim, "the simulator")
    code = 0 if daemon is None or daemon.returncode in (0, None) else daemon.returncode
    print(f"demo: stopped (daemon exit {code}); config and state summary in {workdir}",
          file=sys.stderr)
    return 0 if stopping else code


def _banner(rest_url: str, redis_url: str, cfg_path: Path, args: argparse.Namespace) -> None:
    print(
        f"""
demo: simulator  {rest_url}  (speed x{args.speed:g}, seed {args.seed}; QRL={DEMO_QRL} \
USDT={DEMO_USDT})
demo: redis      {redis_url}  (private, append-only file in a temporary folder, gone after the demo)
demo: daemon     live against the simulator, evaluating every {args.interval_s}s
demo: watch      this terminal (a line per decision, order and fill; an unchanged HOLD once),
                 or in another terminal:
                 .venv/bin/rebalancer status -c {cfg_path}
                 .venv/bin/rebalancer history -c {cfg_path}
                 .venv/bin/rebalancer pnl -c {cfg_path}
demo: stop       Ctrl-C
""",
        file=sys.stderr, flush=True)
