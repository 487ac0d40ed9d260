"""What ``rebalancer demo`` needs to never leave a child behind: the stop request (SIGINT,
SIGTERM, SIGHUP, a closed output), the terminal that may go away, the children's log files
shown on it, and the children themselves.

The children write only to their log files, never to the demo's terminal or pipe: a closed
pipe or a hung-up terminal cannot kill one of them behind the demo's back, and the logs stay
whole. The demo copies the files' new lines to its stderr while that works, and stops everything
when it does not (EPIPE/EIO on a write, or poll() saying the reader went away)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from daemon.errors import StopInterrupt
from daemon.process_guard import die_with_parent

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_GONE = select.POLLERR | select.POLLHUP  # a pipe with no reader, a hung-up terminal


class StopRequest:
    """Signal handlers that only record (the first signal asks for a clean stop, a second
    Ctrl-C or SIGTERM for a quick one) except while ``interrupting`` (a write is under way):
    then they also raise StopInterrupt, so that a reader that stopped reading cannot hold the
    demo in a write.
    ``restore`` puts the previous handlers back. A SIGHUP that the user chose to ignore
    (``nohup``) stays ignored."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.count = 0
        self.interrupting = False
        self._old: dict[int, object] = {}

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            if sig == signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
                continue
            self._old[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.ask(signal.Signals(signum).name)
        if self.interrupting:
            self.interrupting = False
            raise StopInterrupt

    def ask(self, reason: str) -> None:
        """A stop asked for; a second Ctrl-C or SIGTERM (``count``) hurries it. A closed
        terminal or output does not: it comes as a SIGHUP and a failed write together (or a
        SIGHUP twice, from the session and the foreground group), and the stop it asks for
        must stay clean (the daemon's checkpoint written)."""
        if reason in ("SIGINT", "SIGTERM"):
            self.count += 1
        if self.reason is None:
            self.reason = reason

    @property
    def asked(self) -> bool:
        return self.reason is not None


class Output:
    """The demo's stderr, written with os.write; once a write fails (EPIPE: the reader of the
    pipe went away; EIO: the terminal was closed), a stop signal had to interrupt a write that
    blocked (a reader that no longer reads: still no room), or poll() reports stdout or stderr
    gone, it is ``closed`` and nothing more is written (the logs are whole in their files)."""

    def __init__(self, stop: StopRequest, fd: int = 2, watched: Sequence[int] = (1, 2)) -> None:
        self.stop = stop
        self.fd = fd
        self.closed = False
        self._poll = select.poll()
        for watched_fd in watched:
            self._poll.register(watched_fd, 0)  # only POLLERR/POLLHUP/POLLNVAL come back

    def gone(self) -> bool:
        """Whether stdout or stderr lost its reader (checked without writing)."""
        if not self.closed:
            self.closed = any(event & _GONE for _fd, event in self._poll.poll(0))
        return self.closed

    def write(self, data: bytes) -> bool:
        view = memoryview(data)
        while view and not self.closed:
            try:
                view = view[self._write_once(view):]
            except OSError:
                self.closed = True
            except StopInterrupt:  # blocked, or a signal that came just then: which one?
                self.closed = not self._writable()
        return not self.closed

    def _writable(self) -> bool:
        probe = select.poll()
        probe.register(self.fd, select.POLLOUT)
        return any(event & select.POLLOUT for _fd, event in probe.poll(0))

    def _write_once(self, data: memoryview) -> int:
        try:
            self.stop.interrupting = True
            return os.write(self.fd, data)
        finally:
            self.stop.interrupting = False

    def say(self, text: str) -> bool:
        return self.write(text.encode())


class LogRelay:
    """The new complete lines of each log file, copied to an Output."""

    def __init__(self, out: Output, files: Sequence[Path]) -> None:
        self.out = out
        self._offsets = {path: 0 for path in files}

    def pump(self, final: bool = False) -> None:
        """Copy what was written since the last call (``final``: an unfinished last line too);
        a closed output is left alone."""
        for path, offset in self._offsets.items():
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read(1 << 20)
            except FileNotFoundError:
                continue
            if not final:
                data = data[:data.rfind(b"\n") + 1]
            self._offsets[path] = offset + len(data)
            if data and not self.out.closed:
                self.out.write(data)


def start_child(argv: Sequence[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``argv`` in its own session (the terminal's signals are the demo's to pass on), its
    output appended to ``log``, ended by the kernel if the demo dies without stopping it."""
    with log.open("ab") as sink:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                env=env, start_new_session=True, preexec_fn=die_with_parent())


def stop_child(proc: subprocess.Popen[bytes] | None, name: str, stop: StopRequest, out: Output,
               relay: LogRelay, grace_s: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``grace_s`` or at once on a second stop signal; the child's
    last lines are shown meanwhile."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while proc.poll() is None:
        relay.pump()
        if stop.count >= 2 or time.monotonic() > deadline:
            why = "a second stop signal" if stop.count >= 2 else f"not stopped in {grace_s:g}s"
            out.say(f"demo: killing {name} ({why})\n")
            proc.kill()
            proc.wait()
            break
        time.sleep(0.05)
    relay.pump()
