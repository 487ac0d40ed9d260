"""``rebalancer reload`` (issue 16): a real daemon process is sent SIGHUP through the command,
which prints the outcome the daemon records in Redis (``P reload``): the keys applied, the
restart-only keys with a warning, or every error while the daemon keeps its old config. With
no daemon to signal it refuses in one line and signals nothing: no state, a daemon that
stopped, a dead pid, a pid now another program's, a daemon on another host. The README's
lines are run as shown (their /etc and /opt paths moved under a temporary directory)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from daemon.sim import SimConfig, Simulator
from tests.support.daemon_process import (
    PREFIX,
    daemon_env,
    kill_left,
    live_config,
    start_daemon,
    wait_exit,
)
from tests.support.e2e_harness import wait_for

REPO = Path(__file__).resolve().parents[2]
README_PREFIX = ["sudo", "-u", "rebalancer", "/opt/rebalancer/.venv/bin/rebalancer"]


def readme_reload_lines() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Signals\n")
    section = text[start:text.index("\n## ", start + 1)]
    lines = [shlex.split(ln) for ln in section.splitlines() if " reload -c " in ln]
    assert len(lines) == 2, lines
    assert all(argv[:4] == README_PREFIX for argv in lines), lines
    return [argv[4:] for argv in lines]


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def reload_cli(*args: str, as_user: int | None = None) -> tuple[int, str, str]:
    """``rebalancer ARGS`` as a process: (exit code, stdout, stderr). ``as_user``: as that
    user id, allowed to read every file (the checkout under /root, the config) but not to
    signal another user's process."""
    user = [] if as_user is None else [
        "setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups",
        "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    proc = await asyncio.create_subprocess_exec(
        *user, sys.executable, "-m", "daemon", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _target_ratio(client: aioredis.Redis) -> str:
    raw = await client.get(PREFIX + "heartbeat")
    assert raw is not None
    return str(json.loads(raw)["target_ratio"])


async def test_reload_reports_applied_restart_only_and_rejected(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    (first, last) = readme_reload_lines()
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml")
        args = [a.replace("/etc/rebalancer/config.yaml", str(cfg)) for a in first]
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            await wait_for(lambda: "ready: " in _log(log), 20, "ready")
            await wait_for(lambda: "[cycle_id=" in _log(log), 10, "a decision")

            # a valid change: the key applied, exit 0 (the README's line as shown)
            live_config(sim, redis_url, cfg, strategy={"ratio": "0.6"})
            code, out, err = await reload_cli(*args)
            assert code == 0, out + err
            assert out.startswith(f"applied by the daemon (pid {proc.pid} on "
                                  f"{socket.gethostname()}) at "), out
            assert f" from {cfg}\n  applied: strategy.ratio\n" in out, out
            assert "warning" not in out + err, out + err
            await asyncio.sleep(1.5)  # beats written after the reload
            assert await _target_ratio(redis_client) == "0.6"

            # a restart-only change: listed with a warning, exit 0, not applied
            live_config(sim, redis_url, cfg, strategy={"ratio": "0.6"},
                        exchange={"request_timeout_ms": 2500})
            code, out, err = await reload_cli("reload", "-c", str(cfg))
            assert code == 0, out + err
            assert out.startswith(f"unchanged by the daemon (pid {proc.pid} "), out
            assert out.endswith("  no reloadable key changed\nwarning: changed but taken only "
                                "at a restart (a restart of the daemon): "
                                "exchange.request_timeout_ms\n"), out
            # the daemon reads its own file, not a copy given to the command: said
            copy = tmp_path / "copy.yaml"
            copy.write_bytes(cfg.read_bytes())
            code, out, err = await reload_cli("reload", "-c", str(copy))
            assert code == 0 and f" from {cfg}\n" in out, out + err
            assert err == f"warning: the daemon reads {cfg}, not {copy}\n", err

            # an invalid file: every error printed, exit 1, still on the old config
            live_config(sim, redis_url, cfg, strategy={"ratio": "1.5", "threshold": "-1"})
            code, out, err = await reload_cli("reload", "-c", str(cfg), "--timeout", "10")
            assert code == 1, out + err
            assert out.startswith(f"rejected by the daemon (pid {proc.pid} "), out
            lines = out.splitlines()
            assert lines[1] == "  the daemon kept running on the old config:", out
            assert any(ln.startswith("  strategy.ratio: ") for ln in lines[2:]), out
            assert any(ln.startswith("  strategy.threshold: ") for ln in lines[2:]), out
            assert proc.poll() is None, _log(log)
            await asyncio.sleep(1.5)  # beats written after the rejection
            assert await _target_ratio(redis_client) == "0.6"

            # the last outcome, without signalling (the README's second line), and as JSON
            args = [a.replace("/etc/rebalancer/config.yaml", str(cfg)) for a in last]
            code, out, _ = await reload_cli(*args)
            assert code == 1 and out.startswith("rejected by the daemon"), out
            code, out, err = await reload_cli("reload", "-c", str(cfg), "--last", "--json")
            record = json.loads(out)
            assert (record["outcome"], record["pid"], record["config"]) == (
                "rejected", proc.pid, str(cfg)), record
            assert record["seq"] == 4 and record["applied"] == [], record  # its 4th reload
            assert record["owner"].startswith(f"{socket.gethostname()}:{proc.pid}:"), record

            proc.send_signal(signal.SIGTERM)
            assert await wait_exit(proc, 10) == 0, _log(log)
            # the daemon stopped: its last beat says so, nothing to signal
            code, out, err = await reload_cli("reload", "-c", str(cfg))
            assert (code, out) == (1, ""), out + err
            assert err.startswith(f"error: the daemon ({record['owner']}) stopped at "), err
            assert len(err.splitlines()) == 1, err
        finally:
            kill_left(proc)
    assert "Traceback" not in _log(log)


async def test_a_daemon_of_another_user_then_a_dead_one_are_refused(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the command as another user")
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml",
                          redis={"heartbeat_ttl_s": 60, "lease_ttl_s": 30})
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            await wait_for(lambda: "ready: " in _log(log), 20, "ready")
            await wait_for(lambda: "[cycle_id=" in _log(log), 10, "a decision")
            code, out, err = await reload_cli("reload", "-c", str(cfg), as_user=65534)
            assert (code, out) == (1, ""), out + err
            assert err == (f"error: permission denied: the daemon (pid {proc.pid}) runs as "
                           "root; run this as the service user (sudo -u root rebalancer "
                           "reload ...) or root\n"), err
            await asyncio.sleep(0.5)
            assert "reload" not in _log(log)  # not signalled
            proc.kill()  # no clean stop: the lease and the heartbeat stay
            proc.wait()
        finally:
            kill_left(proc)
        assert await redis_client.get(PREFIX + "heartbeat") is not None
        code, out, err = await reload_cli("reload", "-c", str(cfg))
    assert (code, out) == (1, ""), out + err
    assert err == (f"error: pid {proc.pid}, named by {PREFIX}lease, is not running: the daemon "
                   "died without removing it (it expires by itself; its log (`journalctl -u "
                   "rebalancer`, or `-u rebalancer@NAME` for an instance) says why); nothing "
                   "signalled\n"), err


async def _beat(client: aioredis.Redis, owner: str) -> None:
    await client.set(PREFIX + "schema", "3")
    await client.set(PREFIX + "heartbeat", json.dumps(
        {"time_ms": time.time_ns() // 1_000_000, "owner": owner, "state": "trading"}), ex=30)


async def test_a_recycled_pid_is_not_signalled(redis_url: str, redis_client: aioredis.Redis,
                                               tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    other = await asyncio.create_subprocess_exec("sleep", "60")  # SIGHUP would end it
    try:
        await _beat(redis_client, f"{socket.gethostname()}:{other.pid}:0a1b2c3d")
        code, out, err = await reload_cli("reload", "-c", str(cfg))
        await asyncio.sleep(0.2)
        assert other.returncode is None  # never signalled
    finally:
        other.kill()
        await other.wait()
    assert (code, out) == (1, ""), out + err
    assert err == (f"error: pid {other.pid}, named by {PREFIX}heartbeat, is not a rebalancer "
                   "daemon ('sleep 60'): the daemon died and its pid was reused; nothing "
                   "signalled\n"), err


async def test_another_host_and_no_state_are_refused(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    code, out, err = await reload_cli("reload", "-c", str(cfg))
    assert (code, out) == (2, ""), out + err
    assert err == (f"error: no state under key prefix {PREFIX!r} in Redis at {redis_url}: no "
                   "daemon has run with this config's redis.url and key prefix (wrong -c "
                   "FILE?); nothing to reload\n"), err

    await redis_client.set(PREFIX + "schema", "3")
    code, out, err = await reload_cli("reload", "-c", str(cfg))
    assert (code, out) == (1, ""), out + err
    assert err == (f"error: no live heartbeat or lease under {PREFIX!r}: the daemon is not "
                   "running (or not up yet); nothing signalled\n"), err

    await _beat(redis_client, "vps-elsewhere:4242:0a1b2c3d")
    code, out, err = await reload_cli("reload", "-c", str(cfg))
    assert (code, out) == (1, ""), out + err
    assert err == (f"error: the daemon runs on host 'vps-elsewhere' (pid 4242), this is "
                   f"{socket.gethostname()!r}: a signal cannot reach it; run `rebalancer "
                   "reload` on vps-elsewhere\n"), err

    down = tmp_path / "down.yaml"  # a Redis that does not answer: one line, exit 1
    down.write_text(yaml.safe_dump({"redis": {"url": "redis://127.0.0.1:1/0"}}))
    code, out, err = await reload_cli("reload", "-c", str(down))
    assert (code, out) == (1, ""), out + err
    assert err.startswith("error: Redis at redis://127.0.0.1:1/0 is unavailable: "), err
    assert len(err.splitlines()) == 1, err

    code, out, err = await reload_cli("reload", "-c", str(cfg), "--timeout", "0")
    assert (code, out) == (2, ""), out + err
    assert err == "error: --timeout: must be within (0, 3600] seconds, got 0\n", err
