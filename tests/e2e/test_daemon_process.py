"""`rebalancer run` as a real process under a fake systemd: READY once up, SIGHUP with a valid
file (RELOADING, READY, applied) and an invalid one (old config kept), SIGTERM inside the grace
period with STOPPING and a checkpoint in Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import orjson
import redis
import yaml

from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import wait_for
from tests.support.fake_systemd import FakeSystemd


def config(sim: Simulator, redis_url: str, ratio: str = "0.5",
           runtime: dict[str, float] | None = None) -> str:
    return yaml.safe_dump({
        "mode": "live",
        "exchange": {"rest_url": sim.rest_url, "ws_url": sim.ws_url},
        "redis": {"url": redis_url},
        "schedule": {"interval_s": 1},
        "strategy": {"name": "symmetric", "ratio": ratio},
        "health": {"heartbeat_interval_s": 0.5},
        "runtime": {"shutdown_grace_s": 5, **(runtime or {})},
    })


def spawn(cfg: Path, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "daemon", "run", "-c", str(cfg)], env=env,
                            stdout=log, stderr=log)


async def test_run_notify_reload_and_graceful_stop(redis_url: str, tmp_path: Path,
                                                systemd: FakeSystemd) -> None:
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(config(sim, redis_url))
        env = dict(os.environ, MEXC_API_KEY=sim.api_key, MEXC_API_SECRET=sim.api_secret,
                   NOTIFY_SOCKET=systemd.path, WATCHDOG_USEC="2000000")
        log = (tmp_path / "daemon.log").open("wb")
        proc = spawn(cfg, env, log)
        try:
            await wait_for(lambda: any(m.startswith("READY=1") for m in systemd.drain()), 20,
                           "READY")
            assert any("STATUS=QRLUSDT live trading" in m for m in systemd.drain())
            await wait_for(lambda: "WATCHDOG=1" in systemd.drain(), 5, "a watchdog ping")

            cfg.write_text(config(sim, redis_url, ratio="0.6"))
            systemd.clear()
            proc.send_signal(signal.SIGHUP)
            await wait_for(lambda: any(m.startswith("READY=1") for m in systemd.drain()), 10,
                           "READY after reload")
            assert systemd.drain()[0].startswith("RELOADING=1\nMONOTONIC_USEC=")
            cfg.write_text("strategy:\n  ratio: 7\n")
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(1.0)
            assert proc.poll() is None  # an invalid file never stops the daemon

            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            for _ in range(200):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            assert proc.returncode == 0
            assert time.monotonic() - started < 5
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
        assert "STOPPING=1" in systemd.drain()
        text = (tmp_path / "daemon.log").read_text()
        assert "reload applied: strategy.ratio" in text
        assert "strategy.ratio: Input should be less than or equal to 1 (got 7)" in text
        client = redis.Redis.from_url(redis_url)
        beat = orjson.loads(client.get("bot:QRLUSDT:heartbeat") or b"{}")
        client.close()
        assert beat["state"] == "stopped"  # the checkpoint written at shutdown
        assert beat["symbol"] == "QRLUSDT" and beat["candles"] > 25


async def test_a_task_that_keeps_dying_exits_non_zero(redis_url: str, tmp_path: Path,
                                                      systemd: FakeSystemd) -> None:
    """The exchange answers the private stream's handshake with 403: the stream dies at
    every connect (a refused subscription is retried inside the stream instead); after the
    supervisor's last restart the process shuts down and exits 1, so that systemd restarts
    it."""
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        sim.faults.ws_private_handshake_status = 403
        cfg = tmp_path / "config.yaml"
        cfg.write_text(config(sim, redis_url, runtime={
            "restart_backoff_s": 0.1, "restart_backoff_max_s": 0.2, "restart_max_deaths": 3}))
        env = dict(os.environ, MEXC_API_KEY=sim.api_key, MEXC_API_SECRET=sim.api_secret,
                   NOTIFY_SOCKET=systemd.path)
        log = (tmp_path / "daemon.log").open("wb")
        proc = spawn(cfg, env, log)
        try:
            await wait_for(lambda: any(m.startswith("READY=1") for m in systemd.drain()), 20,
                           "READY")
            await wait_for(lambda: proc.poll() is not None and bool(systemd.drain()), 60,
                           "the process to give up")
            assert proc.returncode == 1
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert "STOPPING=1" in systemd.drain()
    text = (tmp_path / "daemon.log").read_text()
    assert "task user-ws died 3 times" in text  # runtime.restart_max_deaths
    # one line naming the refusal, each time; no traceback (the hostile campaign's 403 cases)
    assert "task user-ws died: user stream: the websocket handshake was refused with HTTP 403" \
        in text
    assert "kept dying (user stream: the websocket handshake was refused with HTTP 403)" in text
    assert "Traceback" not in text
    assert "error: task user-ws kept dying (user stream: the websocket handshake was refused " \
        "with HTTP 403); exiting for systemd to restart the daemon" in text
    client = redis.Redis.from_url(redis_url)
    assert client.get("bot:QRLUSDT:lease") is None  # released on the way out
    client.close()
