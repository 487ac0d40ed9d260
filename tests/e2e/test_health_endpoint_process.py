"""``rebalancer run`` as a real process with ``health.listen``: while its startup waits out a
failing kline backfill /healthz answers 503 "starting", then 200 once it trades; SIGTERM
closes the endpoint with the daemon (exit 0, the port released)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp

from daemon.sim import BadReply, Faults, SimConfig, Simulator
from tests.support.daemon_process import daemon_env, live_config, start_daemon, wait_exit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_healthz_of_the_daemon_process_from_start_to_stop(redis_url: str,
                                                               tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    faults = Faults(bad_replies=(BadReply("GET /api/v3/klines", "html502", first=8),))
    seen: list[tuple[int, dict[str, Any]]] = []
    async with Simulator(SimConfig(seed=41, speed=60.0, faults=faults)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml",
                          health={"listen": f"127.0.0.1:{port}"})
        proc = start_daemon(cfg, tmp_path / "daemon.log", daemon_env(sim))
        try:
            async with aiohttp.ClientSession() as session:
                async def ask() -> bool:
                    try:
                        async with session.get(url) as resp:
                            seen.append((resp.status, json.loads(await resp.text())))
                    except aiohttp.ClientConnectionError:
                        return False  # not listening yet (or any more)
                    return seen[-1][0] == 200

                for _ in range(600):  # 30 s
                    if await ask():
                        break
                    assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
                    await asyncio.sleep(0.05)
                proc.send_signal(signal.SIGTERM)
                assert await wait_exit(proc, 15) == 0
                assert not await ask()  # the port is closed with the daemon
        finally:
            if proc.poll() is None:
                proc.kill()
    starting = [body for status, body in seen if status == 503]
    assert starting and all("starting" in body["reasons"] for body in starting), seen
    assert seen[-1][0] == 200 and seen[-1][1]["phase"] == "trading", seen
