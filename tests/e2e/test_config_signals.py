"""`rebalancer run` as a real process against the simulator, signalled with hostile config
files (issue 12, section 5): a SIGHUP with a byte-flipped file keeps it running on the old
config; a storm of SIGHUPs with one bad file among good ones never stops it; a SIGHUP while it
is still starting (importing, before any handler of its own) is applied once it is up, and
SIGTERM then exits 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from daemon.sim import SimConfig, Simulator
from tests.support.daemon_process import (
    daemon_env,
    kill_left,
    live_config,
    start_daemon,
    wait_exit,
)
from tests.support.e2e_harness import wait_for


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    assert proc.poll() is None, _log(log)
    proc.send_signal(signal.SIGTERM)
    assert await wait_exit(proc, 8) == 0, _log(log)


def _caught(pid: int) -> int:
    """The signals the process handles (SigCgt of /proc/PID/status) as a bit mask."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


async def test_sighup_with_a_byte_flipped_file_keeps_the_daemon(redis_url: str,
                                                                  tmp_path: Path) -> None:
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml")
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            await wait_for(lambda: "ready: " in _log(log), 15, "ready")
            flipped = bytearray(cfg.read_bytes())
            flipped[3] ^= 0x80  # a letter of the first key becomes a lone UTF-8 lead byte
            cfg.write_bytes(bytes(flipped))
            proc.send_signal(signal.SIGHUP)
            await wait_for(lambda: "reload rejected" in _log(log), 5, "the reload rejected")
            await asyncio.sleep(0.3)
            await _stop(proc, log)
        finally:
            kill_left(proc)
    text = _log(log)
    assert f"{cfg}: not valid UTF-8 at line 1, column 4 (byte 0x{flipped[3]:02x})" in text, text
    assert "Traceback" not in text, text


async def test_a_sighup_storm_with_one_bad_file_never_stops_the_daemon(
        redis_url: str, tmp_path: Path) -> None:
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml")
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            await wait_for(lambda: "ready: " in _log(log), 15, "ready")
            applied_before = 0
            for n in range(12):  # the 7th brings the bad file: the 7th SIGHUP killed it
                if n == 6:
                    cfg.write_text("strategy: " + "[" * 1000 + "]" * 1000 + "\n")
                else:
                    live_config(sim, redis_url, cfg, strategy={"ratio": f"0.{50 + n}"})
                proc.send_signal(signal.SIGHUP)
                if n == 6:  # read before the next file replaces it
                    await wait_for(lambda: "nested deeper" in _log(log), 5, "the bad file")
                    applied_before = _log(log).count("reload applied")
                await asyncio.sleep(0.05)
            await wait_for(lambda: _log(log).count("reload applied") > applied_before, 5,
                           "a good file applied after the bad one")
            await _stop(proc, log)
        finally:
            kill_left(proc)
    text = _log(log)
    assert "nested deeper than 32 levels" in text, text
    assert "reload applied: strategy.ratio" in text, text
    assert "Traceback" not in text, text


async def test_sighup_while_starting_is_applied_once_up(redis_url: str,
                                                        tmp_path: Path) -> None:
    async with Simulator(SimConfig(seed=2, speed=60.0)) as sim:
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml")
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            # SIGHUP is held (caught) as soon as the daemon's own code runs, long before its
            # imports are done and the event loop's handlers exist; until then a SIGHUP would
            # end the process, so wait for the hold (a loaded machine took over 0.2 s)
            await wait_for(lambda: _caught(proc.pid) & 1 << (signal.SIGHUP - 1), 20,
                           "SIGHUP held")
            live_config(sim, redis_url, cfg, strategy={"ratio": "0.6"})
            proc.send_signal(signal.SIGHUP)
            assert "starting: " not in _log(log)  # it came before the event loop's handlers
            await wait_for(lambda: "ready: " in _log(log) or proc.poll() is not None, 15,
                           "ready")
            await wait_for(lambda: "reload: " in _log(log).partition("ready: ")[2]
                           or proc.poll() is not None, 5, "the reload done once up")
            await wait_for(lambda: "target 60%" in _log(log) or proc.poll() is not None, 5,
                           "a decision on the new ratio")
            await _stop(proc, log)
        finally:
            kill_left(proc)
    text = _log(log)
    assert "SIGHUP received while starting" in text, text
    # the file was read after the SIGHUP (at startup, or by the reload: the imports and the
    # startup read race with it); either way the daemon runs on the new ratio
    assert "reload: no reloadable key changed" in text or "reload applied: strategy.ratio" in text
