"""A private, throw-away redis-server on a free loopback port: for the demo command and tests.

It runs with an append-only file (``appendonly yes``, ``appendfsync everysec``) in its data
directory, like a production Redis should (README: Production Redis): a redis-server killed and
started again on the same directory keeps what it acknowledged. No RDB snapshots.
Never used against a production Redis; the daemon itself only takes ``redis.url``."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from daemon.errors import RebalancerError
from daemon.process_guard import die_with_parent


def _server_pid(port: int) -> int | None:
    """The process id the redis-server on ``port`` reports (INFO server); OSError when nothing
    answers yet."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(b"INFO server\r\n")
        while len(data) < 65536 and _PID.search(data) is None:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    found = _PID.search(data)
    return int(found.group(1)) if found else None


_PID = re.compile(rb"process_id:(\d+)\r\n")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class LocalRedis:
    """``with LocalRedis() as r: r.url`` starts redis-server (AOF in ``data_dir``, a temporary
    directory removed at stop when none is given) and stops it. ``extra_args`` come last on the
    command line and override the defaults (tests: ``("--appendonly", "no")``); the command
    line overrides ``config_file`` (a redis.conf, for tests of CONFIG REWRITE).
    ``guarded`` (the demo): redis-server runs in its own session, so the terminal's Ctrl-C or
    hangup does not stop it before the daemon that writes to it, and it gets SIGTERM when the
    process that started it dies (daemon/process_guard.py); start it from the main thread."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None, *,
                 extra_args: Sequence[str] = (), config_file: Path | None = None,
                 guarded: bool = False) -> None:
        self.guarded = guarded
        self._auto_port = port is None
        self.extra_args = tuple(extra_args)
        self.config_file = config_file
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RebalancerError(
                "redis-server is not installed (Debian/Ubuntu: sudo apt-get install redis-server)"
            )
        for attempt in range(5 if self._auto_port else 1):
            if attempt:
                # the free port was taken before our bind (e.g. by a parallel test worker's
                # redis-server): never use the other one; try another port
                self.port = free_port()
            if self._start_once(exe, timeout_s):
                return
        raise RebalancerError(f"redis-server: port {self.port} is served by another process")

    def _start_once(self, exe: str, timeout_s: float) -> bool:
        """Start on ``self.port``; False when another process answers there instead."""
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rebalancer-redis-")
            self.data_dir = Path(self._tmp.name)
        conf = [] if self.config_file is None else [str(self.config_file)]
        args = [exe, *conf, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.data_dir),
                "--protected-mode", "yes", "--loglevel", "warning", *self.extra_args]
        guard = die_with_parent() if self.guarded else None
        proc = self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            start_new_session=self.guarded, preexec_fn=guard)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                owner = _server_pid(self.port)
            except OSError:
                owner = None
            if owner == proc.pid:
                return True
            if proc.poll() is not None or owner is not None:
                self.stop()  # ends ours first, so that its stderr can be read to the end
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                if owner is not None or "Address already in use" in err:
                    return False
                raise RebalancerError(f"redis-server exited at start: {err.strip()}")
            time.sleep(0.02)
        self.stop()
        raise RebalancerError(f"redis-server did not answer on port {self.port} in {timeout_s}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.data_dir = None  # a later start() makes a fresh temporary dir

    def __enter__(self) -> LocalRedis:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
