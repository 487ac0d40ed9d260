"""``rebalancer demo`` as a user runs it, stopped every way a terminal session ends: Ctrl-C
(SIGINT to the foreground process group), SIGTERM, the terminal closed (a pty whose master is
closed: SIGHUP), its output pipe closed (``| head``) or stalled (a reader that stopped reading),
and the demo killed with SIGKILL. Afterwards no process the demo started (redis-server, the
simulator, the daemon: its children, read from /proc before the stop) is alive, and the work
folder holds the config, both logs and, after a clean stop, the state summary."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "daemon", "demo", "--speed", "600", "--interval-s", "2"]
READY = b"daemon.runtime.app: ready"
FILES = ("demo-config.yaml", "daemon.log", "simulator.log")
F_SETPIPE_SZ = 1031  # <linux/fcntl.h>

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def gone(pid: int) -> bool:
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def children(pid: int) -> dict[int, tuple[str, str]]:
    """The live children of ``pid``: their start time (to tell a reused pid) and command."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or fields[1] != str(pid) or fields[0] == "Z":
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        found[int(entry.name)] = (fields[19], cmd)
    return found


def alive(started: dict[int, tuple[str, str]]) -> list[str]:
    """Those of ``started`` still running (a zombie or a new process under the pid is not)."""
    left = []
    for pid, (start, cmd) in started.items():
        fields = _stat(pid)
        if fields is not None and fields[0] != "Z" and fields[19] == start:
            left.append(f"{pid} {cmd}")
    return left


def kinds(started: dict[int, tuple[str, str]]) -> list[str]:
    def kind(cmd: str) -> str:
        for name in ("redis-server", "daemon sim", "daemon run"):
            if name in cmd:
                return name
        return cmd
    return sorted(kind(cmd) for _start, cmd in started.values())


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s}s"
        time.sleep(0.1)


def read_until(fd: int, text: bytes, timeout_s: float = 90) -> bytes:
    """What the demo wrote to ``fd`` up to ``text``."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} within {timeout_s}s: {seen[-2000:]!r}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the demo's output ended before {text!r}: {seen[-2000:]!r}"
            seen += chunk
    return seen


def up(proc: subprocess.Popen[bytes], log: Path) -> dict[int, tuple[str, str]]:
    """Once the daemon is ready: the three processes the demo started."""
    wait_until(lambda: proc.poll() is not None or (log.exists() and READY in log.read_bytes()),
               90, "ready daemon")
    assert proc.poll() is None, log.read_text()
    started = children(proc.pid)
    assert kinds(started) == ["daemon run", "daemon sim", "redis-server"], started
    return started


def stopped(proc: subprocess.Popen[bytes], started: dict[int, tuple[str, str]],
            timeout_s: float = 60) -> int:
    """The demo's exit code; nothing it started is left."""
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert alive(started) == [], "left running after the demo"
    return code


def assert_summary(workdir: Path) -> None:
    for name in FILES:
        assert (workdir / name).stat().st_size > 0, name
    summary = json.loads((workdir / "state-summary.json").read_text())
    assert summary["daemon"]["mode"] == "live"
    assert summary["daemon"]["state"] == "stopped"
    assert not list(workdir.glob("*.tmp"))
    assert READY in (workdir / "daemon.log").read_bytes()


def start(tmp_path: Path, **popen: object) -> tuple[subprocess.Popen[bytes], Path]:
    workdir = tmp_path / "work"
    proc = subprocess.Popen([*DEMO, "--workdir", str(workdir)], cwd=REPO,
                            start_new_session=True, **popen)  # type: ignore[call-overload]
    return proc, workdir


def test_ctrl_c_in_the_readme_stops_everything(tmp_path: Path) -> None:
    """README: ``./scripts/demo --speed 120 --seed 3 --interval-s 10``, then Ctrl-C."""
    out = tmp_path / "out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            ["./scripts/demo", "--speed", "120", "--seed", "3", "--interval-s", "10"], cwd=REPO,
            stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True,
            env=dict(os.environ, TMPDIR=str(tmp_path)))
    started = up(proc, out)
    try:
        # the banner's commands run as shown from any folder ("another terminal")
        shown = [line.strip() for line in out.read_text().splitlines()
                 if line.strip().split(" ", 1)[0].endswith("rebalancer")]
        assert [line.split()[1] for line in shown] == ["status", "history", "pnl"], shown
        for line in shown:
            done = subprocess.run(line.split(), cwd="/", capture_output=True, text=True,
                                  timeout=60, check=False)
            assert done.returncode in (0, 1) and done.stdout, (line, done.stderr)
    except BaseException:
        os.killpg(proc.pid, signal.SIGINT)  # a failed check leaves no demo running
        stopped(proc, started)
        raise
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole foreground group
    assert stopped(proc, started) == 0
    text = out.read_text()
    assert "demo: stopping (SIGINT) the daemon, the simulator and redis" in text
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("demo: stopped (daemon exit 0); config demo-config.yaml, logs "
                           "daemon.log and simulator.log, state summary state-summary.json in ")
    workdir = Path(last.rsplit(" in ", 1)[1])
    assert workdir.parent == tmp_path  # a new temporary folder
    assert_summary(workdir)
    # the daemon stopped before redis: its last checkpoint was written
    assert "checkpoint written" in (workdir / "daemon.log").read_text()


def test_sigterm_stops_everything(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with out.open("wb") as sink:
        proc, workdir = start(tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    started = up(proc, out)
    proc.send_signal(signal.SIGTERM)
    assert stopped(proc, started) == 0
    text = out.read_text()
    assert "demo: stopping (SIGTERM)" in text
    assert f"demo: stopped (daemon exit 0); config demo-config.yaml, logs daemon.log and " \
           f"simulator.log, state summary state-summary.json in {workdir.resolve()}" in text
    assert_summary(workdir)
    # what the terminal showed is what the log files hold
    assert (workdir / "daemon.log").read_text().splitlines()[-1] in text


def _controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_closed_terminal_stops_everything(tmp_path: Path) -> None:
    """The demo in a terminal of its own (a pty): the terminal closed is a SIGHUP, and every
    write to it after that fails."""
    master, slave = os.openpty()
    try:
        proc, workdir = start(tmp_path, stdin=slave, stdout=slave, stderr=slave,
                              preexec_fn=_controlling_tty)
    finally:
        os.close(slave)
    try:
        read_until(master, READY)
        started = children(proc.pid)
        assert kinds(started) == ["daemon run", "daemon sim", "redis-server"], started
    finally:
        os.close(master)  # the terminal window closed
    assert stopped(proc, started) == 0
    assert_summary(workdir)


def test_closed_output_pipe_stops_everything(tmp_path: Path) -> None:
    """``rebalancer demo 2>&1 | head``: the reader goes away while nothing is being written."""
    read_end, write_end = os.pipe()
    try:
        proc, workdir = start(tmp_path, stdin=subprocess.DEVNULL, stdout=write_end,
                              stderr=write_end)
    finally:
        os.close(write_end)
    try:
        read_until(read_end, READY)
        started = children(proc.pid)
    finally:
        os.close(read_end)
    assert stopped(proc, started) == 0
    assert_summary(workdir)


def test_ctrl_c_on_a_tee_pipeline_stops_everything(tmp_path: Path) -> None:
    """README: ``./scripts/demo 2>&1 | tee demo.log``, then Ctrl-C: tee ends at once, the demo
    loses its output while it stops the others."""
    log = tmp_path / "demo.log"
    shell = subprocess.Popen(["bash", "-c", f"./scripts/demo 2>&1 | tee {log} >/dev/null"],
                             cwd=REPO, stdin=subprocess.DEVNULL, start_new_session=True,
                             env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        wait_until(lambda: log.exists() and READY in log.read_bytes(), 90, "ready daemon")
        demo_pid = next(pid for pid, (_start, cmd) in children(shell.pid).items()
                        if "rebalancer demo" in cmd)
        started = children(demo_pid)
        assert kinds(started) == ["daemon run", "daemon sim", "redis-server"], started
        os.killpg(shell.pid, signal.SIGINT)  # the terminal's Ctrl-C
        shell.wait(timeout=60)
        wait_until(lambda: gone(demo_pid), 60, "end of the demo")
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
    assert alive(started) == [], "left running after the demo"
    workdir = next(tmp_path.glob("rebalancer-demo-*"))
    assert_summary(workdir)


def test_stalled_output_pipe_does_not_hold_the_stop(tmp_path: Path) -> None:
    """A reader that stopped reading (``| less`` left alone): the demo, blocked in its first
    write to the full pipe, still stops everything on SIGTERM."""
    read_end, write_end = os.pipe()
    size = fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    os.write(write_end, b"x" * size)  # full: the demo's first write blocks
    try:
        proc, workdir = start(tmp_path, stdin=subprocess.DEVNULL, stdout=write_end,
                              stderr=write_end)
    finally:
        os.close(write_end)
    try:
        started = up(proc, workdir / "daemon.log")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert stopped(proc, started, timeout_s=45) == 0
        assert os.read(read_end, 2 * size) == b"x" * size  # nothing more got through
    finally:
        os.close(read_end)
    assert_summary(workdir)


def test_killed_demo_leaves_no_child(tmp_path: Path) -> None:
    """SIGKILL: the demo cannot stop anything; the kernel ends its children
    (PR_SET_PDEATHSIG) instead of leaving them under PID 1."""
    out = tmp_path / "out"
    with out.open("wb") as sink:
        proc, workdir = start(tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    started = up(proc, out)
    proc.kill()
    assert proc.wait(timeout=10) == -signal.SIGKILL
    try:
        wait_until(lambda: alive(started) == [], 30, "end of the demo's children")
    finally:
        for pid in started:  # a failed run leaves nothing behind either
            if alive({pid: started[pid]}):
                os.kill(pid, signal.SIGKILL)
    for name in FILES:
        assert (workdir / name).exists(), name


@pytest.mark.parametrize("child", ["simulator", "daemon"])
def test_a_dead_child_stops_the_demo_with_exit_1(tmp_path: Path, child: str) -> None:
    out = tmp_path / "out"
    with out.open("wb") as sink:
        proc, workdir = start(tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    started = up(proc, out)
    cmd = "daemon sim" if child == "simulator" else "daemon run"
    os.kill(next(pid for pid, (_start, c) in started.items() if cmd in c), signal.SIGKILL)
    assert stopped(proc, started) == 1
    text = out.read_text()
    assert f"demo: stopping (the {child} exited) the daemon, the simulator and redis" in text
    if child == "simulator":
        assert (f"demo: the simulator exited (code -9); see {workdir.resolve()}/simulator.log"
                in text)
        assert "demo: stopped (daemon exit 0); " in text
    else:
        assert "demo: stopped (daemon killed by SIGKILL); " in text


def test_a_second_ctrl_c_kills_what_is_still_stopping(tmp_path: Path) -> None:
    """The daemon frozen (SIGSTOP) cannot stop: the second Ctrl-C kills it and the rest."""
    out = tmp_path / "out"
    with out.open("wb") as sink:
        proc, workdir = start(tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    started = up(proc, out)
    daemon = next(pid for pid, (_start, cmd) in started.items() if "daemon run" in cmd)
    os.kill(daemon, signal.SIGSTOP)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        wait_until(lambda: b"demo: stopping (SIGINT)" in out.read_bytes(), 10, "stop")
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        assert stopped(proc, started, timeout_s=30) == 0
    finally:
        if not gone(daemon):
            os.kill(daemon, signal.SIGKILL)
            os.kill(daemon, signal.SIGCONT)
    text = out.read_text()
    assert "demo: killing the daemon (a second stop signal)" in text
    assert "demo: stopped (daemon killed by SIGKILL); " in text
    assert (workdir / "daemon.log").exists()
