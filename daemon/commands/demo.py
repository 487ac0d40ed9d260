"""``rebalancer demo``: the whole product on one machine, no keys, no internet.

Starts a private redis-server, the MEXC simulator with its seeded market at an accelerated
speed, and the daemon in ``mode: live`` against it with a short schedule; prints where to
look. Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or a closed output pipe stop all three, the
daemon first, after a state summary (``status --json``) is written to the work folder; the
children end with the demo even when it is killed (demo_processes.py). Exit code: 0 stopped on
request; the daemon's own code when it exited by itself (1 when a signal ended it); 1 the
simulator died or failed to start; 2 bad options or a --workdir holding a previous demo's
files."""

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
from pathlib import Path
from typing import Any

import yaml

from daemon.commands.demo_processes import LogRelay, Output, StopRequest, start_child, stop_child
from daemon.errors import InputError, RebalancerError
from daemon.local_redis import LocalRedis, free_port
from daemon.process_guard import die_with_parent
from daemon.sim.symbols import BASKET_BALANCES

DEMO_API_KEY = "mx0vglDEMOKEY0000000"
DEMO_API_SECRET = "demo-secret-not-real-0000000000000"
DEMO_QRL, DEMO_USDT = "14000", "300"
# what the demo writes to its work folder
CONFIG, DAEMON_LOG, SIM_LOG, SUMMARY = ("demo-config.yaml", "daemon.log", "simulator.log",
                                        "state-summary.json")
SUMMARY_TIMEOUT_S = 30


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the daemon against the built-in simulated exchange",
        description="Start a private redis-server, the MEXC simulator (seeded market) and the "
        "daemon in live mode against it. Ctrl-C (or SIGTERM, a closed terminal, a closed "
        "output pipe) stops everything and writes a state summary to the work folder.")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second (default 60: a 5-minute candle "
                   "every 5 s)")
    p.add_argument("--seed", type=int, default=7, help="market seed (default 7)")
    p.add_argument("--interval-s", type=int, default=20,
                   help="daemon evaluation interval in real seconds (default 20)")
    p.add_argument("--portfolio", action="store_true",
                   help="a three-asset basket (QRL, BTC and ETH against USDT, targets 30/20/20 "
                   "%%) against the simulator's basket (`sim --basket`) instead of QRL/USDT")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the demo's config, the daemon's and the simulator's logs and the "
                   "state summary at stop go (default: a new temp dir); it must not hold a "
                   "previous demo's files")
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


# the basket: `sim --basket` starts at about 25 % of the value in each asset and the quote
DEMO_TARGETS = {"QRL": 0.3, "BTC": 0.2, "ETH": 0.2}


def demo_portfolio_config(rest_url: str, ws_url: str, redis_url: str, interval_s: int
                          ) -> dict[str, Any]:
    """The single pair's demo config with a basket instead of the pair: off its targets at the
    start (QRL to buy, BTC and ETH to sell), so the first evaluation trades every leg."""
    cfg = demo_config(rest_url, ws_url, redis_url, interval_s)
    del cfg["symbol"]
    cfg["strategy"] = {"name": "symmetric", "threshold": 0.02}
    cfg["portfolio"] = {"quote": "USDT", "targets": dict(DEMO_TARGETS)}
    return cfg


def wait_http(url: str, proc: subprocess.Popen[bytes], stop: StopRequest, log: Path,
              timeout_s: float = 20) -> None:
    """Until ``url`` answers or a stop is asked; RebalancerError when ``proc`` exits or time
    runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.asked:
        if proc.poll() is not None:
            raise RebalancerError(f"the simulator exited at start (code {proc.returncode}); "
                                  f"see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    if not stop.asked:
        raise RebalancerError(f"the simulator did not answer at {url} within {timeout_s}s; "
                              f"see {log}")


def prepare_workdir(given: Path | None) -> Path:
    """The work folder, made when missing; InputError when it cannot be or when it holds a
    previous demo's files (they are never overwritten)."""
    workdir = given or Path(tempfile.mkdtemp(prefix="rebalancer-demo-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"demo: --workdir {workdir}: {exc.strerror or exc}") from None
    taken = [name for name in (CONFIG, DAEMON_LOG, SIM_LOG, SUMMARY) if (workdir / name).exists()]
    if taken:
        raise InputError(f"demo: --workdir {workdir} holds a previous demo's "
                         f"{', '.join(taken)}; give another folder or remove them")
    return workdir.resolve()


def handle(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.speed) and args.speed > 0) or args.interval_s <= 0:
        raise InputError("demo: --speed and --interval-s must be positive (finite) numbers, "
                         f"got {args.speed:g} and {args.interval_s}")
    workdir = prepare_workdir(args.workdir)
    env = dict(os.environ, MEXC_SIM_API_KEY=DEMO_API_KEY, MEXC_SIM_API_SECRET=DEMO_API_SECRET,
               MEXC_API_KEY=DEMO_API_KEY, MEXC_API_SECRET=DEMO_API_SECRET, PYTHONUNBUFFERED="1")
    env.pop("NOTIFY_SOCKET", None)
    stop = StopRequest()
    out = Output(stop)
    stop.install()
    try:
        with LocalRedis(guarded=True) as redis:
            demo = _Demo(args, workdir, env, stop, out)
            code = demo.run(redis.url)
        out.say(f"demo: stopped ({demo.daemon_words()}); {demo.files_words()}\n")
        return code
    finally:
        stop.restore()


class _Demo:
    """One run: the simulator and the daemon started, watched, stopped, the summary taken."""

    def __init__(self, args: argparse.Namespace, workdir: Path, env: dict[str, str],
                 stop: StopRequest, out: Output) -> None:
        self.args, self.workdir, self.env, self.stop, self.out = args, workdir, env, stop, out
        self.sim: subprocess.Popen[bytes] | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.relay = LogRelay(out, [workdir / SIM_LOG, workdir / DAEMON_LOG])
        self.summary = "no state summary (the daemon was not started)"
        self.ended: str | None = None  # which child exited by itself, stopping the demo

    def run(self, redis_url: str) -> int:
        py, args = sys.executable, self.args
        port = free_port()
        try:
            market = (["--basket"] if args.portfolio else
                      ["--balance", f"QRL={DEMO_QRL}", "--balance", f"USDT={DEMO_USDT}"])
            self.sim = start_child(
                [py, "-m", "daemon", "sim", "--port", str(port), "--speed", str(args.speed),
                 "--seed", str(args.seed), *market], self.workdir / SIM_LOG, self.env)
            rest_url = f"http://127.0.0.1:{port}"
            wait_http(rest_url + "/api/v3/ping", self.sim, self.stop, self.workdir / SIM_LOG)
            cfg_path = self.workdir / CONFIG
            make = demo_portfolio_config if args.portfolio else demo_config
            cfg = make(rest_url, f"ws://127.0.0.1:{port}/ws", redis_url, args.interval_s)
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            if not self.stop.asked:
                self.daemon = start_child([py, "-m", "daemon", "run", "-c", str(cfg_path)],
                                          self.workdir / DAEMON_LOG, self.env)
                self.out.say(banner(rest_url, redis_url, self.workdir, args))
                self._watch()
        finally:
            self._stop_all()
        return self._exit_code()

    def _watch(self) -> None:
        assert self.sim is not None and self.daemon is not None
        while not self.stop.asked:
            self.relay.pump()
            if self.out.gone():
                self.stop.ask("output closed")
            elif self.daemon.poll() is not None or self.sim.poll() is not None:
                self.ended = "the simulator" if self.sim.returncode is not None else "the daemon"
                return
            time.sleep(0.2)

    def _stop_all(self) -> None:
        why = self.stop.reason or (f"{self.ended} exited" if self.ended else None)
        why = f" ({why})" if why else ""
        self.out.say(f"\ndemo: stopping{why} the daemon, the simulator and redis\n")
        stop_child(self.daemon, "the daemon", self.stop, self.out, self.relay)
        stop_child(self.sim, "the simulator", self.stop, self.out, self.relay)
        if self.daemon is not None:
            self.summary = write_summary(self.workdir, self.env)
        self.relay.pump(final=True)

    def _exit_code(self) -> int:
        if self.stop.asked:
            return 0
        if self.ended == "the simulator" and self.sim is not None:
            self.out.say(f"demo: the simulator exited (code {self.sim.returncode}); see "
                         f"{self.workdir / SIM_LOG}\n")
            return 1
        code = self.daemon.returncode if self.daemon is not None else 1
        return 0 if code == 0 else 1  # the daemon died on its own (2 is the demo's bad option)

    def daemon_words(self) -> str:
        if self.daemon is None:
            return "the daemon was not started"
        code = self.daemon.returncode
        if code is not None and code < 0:
            return f"daemon killed by {signal.Signals(-code).name}"
        return f"daemon exit {code}"

    def files_words(self) -> str:
        return (f"config {CONFIG}, logs {DAEMON_LOG} and {SIM_LOG}, {self.summary} "
                f"in {self.workdir}")


def write_summary(workdir: Path, env: dict[str, str]) -> str:
    """``rebalancer status --json`` (taken before redis stops) into SUMMARY, written whole
    (temp name, then rename); what the final line says about it."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "daemon", "status", "--json", "-c", str(workdir / CONFIG)],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=SUMMARY_TIMEOUT_S,
            start_new_session=True, preexec_fn=die_with_parent())
    except subprocess.TimeoutExpired:
        return f"no state summary (status did not answer in {SUMMARY_TIMEOUT_S}s)"
    if not done.stdout.strip():
        said = done.stderr.decode(errors="replace").strip().splitlines() or ["no output"]
        return f"no state summary (status: {said[-1]})"
    tmp = workdir / (SUMMARY + ".tmp")
    tmp.write_bytes(done.stdout)
    os.replace(tmp, workdir / SUMMARY)
    return f"state summary {SUMMARY}"


def rebalancer_command() -> str:
    """How to run ``rebalancer`` from any folder: the one beside this Python (the venv's)."""
    beside = Path(sys.executable).parent / "rebalancer"
    return str(beside) if beside.is_file() else "rebalancer"


def _basket() -> str:
    return " ".join(f"{a}={q}" for a, q in BASKET_BALANCES.items())


def banner(rest_url: str, redis_url: str, workdir: Path, args: argparse.Namespace) -> str:
    cfg_path, cmd = workdir / CONFIG, rebalancer_command()
    market = (f"QRLUSDT, BTCUSDT and ETHUSDT, {_basket()}; targets "
              f"{', '.join(f'{a} {w:.0%}' for a, w in DEMO_TARGETS.items())}"
              if args.portfolio else f"QRL={DEMO_QRL} USDT={DEMO_USDT}")
    return f"""
demo: simulator  {rest_url}  (speed x{args.speed:g}, seed {args.seed}; {market})
demo: redis      {redis_url}  (private, append-only file in a temporary folder, gone after the demo)
demo: daemon     live against the simulator, evaluating every {args.interval_s}s
demo: files      {workdir}/
                 {CONFIG} (the daemon's config), {DAEMON_LOG} and {SIM_LOG} (the logs shown
                 below), {SUMMARY} (status --json, written at stop)
demo: watch      this terminal (a line per decision, order and fill; an unchanged HOLD once),
                 or in another terminal:
                 {cmd} status -c {cfg_path}
                 {cmd} history -c {cfg_path}
                 {cmd} pnl -c {cfg_path}
demo: stop       Ctrl-C (closing the terminal or the output pipe, or SIGTERM, stops it too)
"""
