"""Operator commands that never mislead (issue 16), through the real CLI process against a real
redis-server: ``--version``; a prefix no daemon ever wrote under is refused (exit 2, one line
naming the prefix and the Redis URL) by halt, resume, core set, rebalance-now and plan, and
nothing is written; bad arguments are one line and exit 2, never a traceback; Redis down is one
line and exit 1 without the daemon's "trading paused" warning; a stdout closed early ends the
command quietly with exit 141."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from daemon.adapters.redis_store import RedisStore
from daemon.cli import main
from tests.integration.cli.test_backtest_command import write_candles

REPO = Path(__file__).resolve().parents[3]
P = "bot:QRLUSDT:"
DOWN = "redis://127.0.0.1:1/0"


def config(tmp_path: Path, redis_url: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": {"url": redis_url}}))
    return str(path)


def rebalancer(*args: str | bytes, stdout: int | None = subprocess.PIPE,
               timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """``rebalancer ARGS`` as a process (``python -m daemon`` is the same ``entry``)."""
    return subprocess.run([sys.executable, "-m", "daemon", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=timeout_s,
                          check=False)


async def cli(*args: str) -> int:
    """main() in-process: it runs its own event loop (asyncio.run), so from a thread."""
    return await asyncio.to_thread(main, list(args))


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_version() -> None:
    for flag in ("--version", "-V"):
        done = rebalancer(flag)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == f"rebalancer {metadata.version('mexc-rebalancer')}\n"


async def test_a_prefix_without_state_is_refused_and_nothing_is_written(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    cfg = config(tmp_path, redis_url)
    for argv in (["halt"], ["resume"], ["core", "set", "5"], ["rebalance-now", "--timeout", "5"],
                 ["plan"]):
        done = rebalancer(*argv, "-c", cfg)
        assert done.returncode == 2, (argv, done.stderr)
        line = one_error_line(done)
        assert f"no state under key prefix '{P}' in Redis at {redis_url}" in line, line
        assert done.stdout == ""
    assert await redis_client.keys("*") == []  # no halt flag, no request, no core floor


async def test_halt_force_sets_the_flag_before_the_first_start_and_resume_clears_it(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    cfg = config(tmp_path, redis_url)
    done = rebalancer("halt", "-c", cfg, "--force", "--reason", "not yet")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"halted QRLUSDT: not yet (no daemon has run under '{P}'")
    assert await redis_client.keys("*") == [f"{P}halted".encode()]
    done = rebalancer("resume", "-c", cfg)  # a forced flag can be taken back
    assert (done.returncode, done.stdout) == (0, "resumed QRLUSDT\n")
    assert await redis_client.keys("*") == []


@pytest.mark.parametrize(("argv", "said"), [
    (["halt", "--reason", ""], "--reason: must not be empty"),
    (["halt", "--reason", "   "], "--reason: must not be empty"),
    (["halt", "--reason", "x" * 201], "--reason: at most 200 characters, got 201"),
    (["halt", "--reason", "two\nlines"], "--reason: one line of printable text, got '\\n'"),
    (["halt", "--reason", "\x1b[31mred"], "--reason: one line of printable text, got '\\x1b'"),
    (["halt", "--reason", "abc\u202edef"], "got '\\u202e' at position 4"),
    (["halt", "--reason", "bad \udcff byte"], "got '\\udcff' at position 5"),
    (["rebalance-now", "--reason", ""], "--reason: must not be empty"),
    (["rebalance-now", "--reason", "a\tb"], "--reason: one line of printable text, got '\\t'"),
    (["rebalance-now", "--timeout", "-1"], "--timeout: must be within (0, 3600] seconds"),
    (["rebalance-now", "--timeout", "nan"], "--timeout: must be within (0, 3600] seconds"),
    (["rebalance-now", "--timeout", "inf"], "--timeout: must be within (0, 3600] seconds"),
    (["core", "set", "-5"], "QTY: must be >= 0, got -5"),
    (["core", "set", "lots"], "QTY: not a decimal number: 'lots'"),
    (["core", "set", "nan"], "QTY: not a finite number"),
    (["core", "set", "1e999999999"], "QTY: out of range: '1e999999999'"),  # was a hang
    (["core", "set", "1e-999999999"], "QTY: out of range: '1e-999999999'"),
    (["core", "set", "2e15"], "QTY: must be <= 1000000000000000, got 2000000000000000"),
    (["core", "set", "0.0000000000000000001"], "QTY: at most 18 decimal places"),
])
async def test_bad_arguments_are_one_line_and_exit_2(
        redis_url: str, store: RedisStore, redis_client: aioredis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], argv: list[str], said: str) -> None:
    before = sorted(await redis_client.keys("*"))  # books written (the store fixture)
    capsys.readouterr()
    assert await cli(*argv, "-c", config(tmp_path, redis_url)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ")
    assert said in err, err
    assert sorted(await redis_client.keys("*")) == before  # nothing written


def test_an_empty_reason_in_a_real_process_is_one_line(tmp_path: Path) -> None:
    """The issue's 33-line traceback (exit 1), and an argument that is not UTF-8."""
    cfg = config(tmp_path, DOWN)  # refused before Redis is asked
    done = rebalancer("halt", "-c", cfg, "--reason", "")
    assert done.returncode == 2
    assert one_error_line(done) == "error: --reason: must not be empty"
    done = rebalancer("halt", "-c", cfg, "--reason", b"caf\xe9")
    assert done.returncode == 2
    assert "--reason: one line of printable text, got '\\udce9' at position 4" in \
        one_error_line(done)


def test_redis_down_is_one_line_without_the_daemons_warning(tmp_path: Path) -> None:
    cfg = config(tmp_path, DOWN)
    for argv in (["status"], ["halt"], ["history"], ["plan"]):
        done = rebalancer(*argv, "-c", cfg)
        assert (done.returncode, done.stdout) == (1, ""), (argv, done.stderr)
        line = one_error_line(done)
        assert line.startswith(f"error: Redis at {DOWN} is unavailable: "), line
        assert "trading paused" not in done.stderr


async def test_a_stdout_closed_early_ends_quietly_with_141(
        redis_url: str, store: RedisStore, tmp_path: Path) -> None:
    """As ``rebalancer status | head -1`` once the reader has gone: no BrokenPipeError."""
    cfg = config(tmp_path, redis_url)
    for argv in (["status"], ["history", "--json"], ["plan", "--snapshot", "nope.json"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the command writes
        try:
            done = rebalancer(*argv, "-c", cfg, stdout=write)
        finally:
            os.close(write)
        if argv[0] == "plan":  # an error on stderr and nothing on stdout: its own exit code
            assert done.returncode == 2 and "nope.json: file not found" in done.stderr
            continue
        assert (done.returncode, done.stderr) == (141, ""), argv


@pytest.mark.parametrize(("argv", "said"), [
    (["--start-value", "1e999999999"], "--start-value '1e999999999': must be at most 1e15"),
    (["--start-value", "1e30"], "--start-value '1e30': must be at most 1e15"),
    (["--rescale-to", "1e16"], "--rescale-to '1e16': must be at most 1e15"),
    (["--balance", "QRL=1e30"], "--balance QRL=1e30: the quantity must be at most 1e15"),
])
def test_backtest_amounts_beyond_any_portfolio_are_refused_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str) -> None:
    """Found by the audit of every command's arguments: decimal Overflow/InvalidOperation."""
    candles = write_candles(tmp_path / "candles.csv", 300)
    code = main(["backtest", "-c", str(REPO / "config.yaml"), "--candles", str(candles), *argv])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"error: {said}\n"


async def test_halt_says_when_no_daemon_runs_and_a_bad_heartbeat_does_not_stop_it(
        redis_url: str, store: RedisStore, redis_client: aioredis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, redis_url)
    capsys.readouterr()
    assert await cli("halt", "-c", cfg, "--reason", "weekend") == 0
    assert capsys.readouterr().out == ("halted QRLUSDT: weekend (no daemon is running now: it "
                                       "holds from its first decision; open orders: cancel)\n")
    await redis_client.set(P + "heartbeat", b"not json")  # status reports that, halt halts
    assert await cli("halt", "-c", cfg, "--reason", "again") == 0
    assert capsys.readouterr().out.startswith("halted QRLUSDT: again (no daemon is running")
    assert b'"again"' in (await redis_client.get(P + "halted") or b"")
    assert await cli("core", "set", "12.5", "-c", cfg) == 0
    assert capsys.readouterr().out == "core floor of QRLUSDT set to 12.5 (core credit 0)\n"


async def test_core_set_follows_the_symbols_precision_and_says_when_above_the_holding(
        redis_url: str, store: RedisStore, redis_client: aioredis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, redis_url)
    beat = {"time_ms": 1, "state": "trading", "precision": {"price": 5, "qty": 2},
            "assets": {"base": "QRL", "quote": "USDT"},
            "books": {"balances": {"QRL": {"free": "100", "locked": "5"}}}}
    await redis_client.set(P + "heartbeat", json.dumps(beat))
    capsys.readouterr()
    assert await cli("core", "set", "5.123", "-c", cfg) == 2
    assert capsys.readouterr().err == ("error: QTY: 5.123 has more decimal places than QRL "
                                       "quantities (2, the exchange's precision)\n")
    assert await redis_client.get(P + "core_floor") is None  # nothing written
    assert await cli("core", "set", "2e2", "-c", cfg) == 0
    assert capsys.readouterr().out == (
        "core floor of QRLUSDT set to 200 (core credit 0); above the 105 QRL held: the daemon "
        "sells no QRL until it holds more than that\n")
    assert json.loads(await redis_client.get(P + "core_floor") or b"{}")["qty"] == "200"


async def test_a_running_daemon_whose_books_redis_lost_is_still_reached(
        redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> None:
    """Redis lost the books (no ``schema``) while the daemon runs (its lease and heartbeat
    are there): halt and status still reach it, never "no daemon has run"."""
    cfg = config(tmp_path, redis_url)
    await redis_client.set(P + "lease", "otherhost:1:abcd", px=60_000)
    done = rebalancer("halt", "-c", cfg, "--reason", "books lost")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.startswith("halted QRLUSDT: books lost"), done.stdout
    assert await redis_client.exists(P + "halted") == 1
    status = rebalancer("status", "-c", cfg)
    assert status.returncode == 1, status.stdout + status.stderr  # no heartbeat: not healthy
    assert "no state under" not in status.stderr, status.stderr
