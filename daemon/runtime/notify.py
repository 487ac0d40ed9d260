"""systemd notify protocol over $NOTIFY_SOCKET: a few lines of stdlib, no dependency.

Messages: READY=1, RELOADING=1 + MONOTONIC_USEC, STOPPING=1, WATCHDOG=1, STATUS=<line>.
Without $NOTIFY_SOCKET every call is a no-op, so the daemon runs the same outside systemd."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address:
            # "@name" is an abstract socket: a leading NUL byte on Linux.
            self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_interval_s: float | None = None
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval_s = int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *lines: str) -> bool:
        if self._address is None:
            return False
        payload = "\n".join(lines).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never block the event loop: a receiver that does not read (a full queue) loses
            # the message instead of stopping the daemon.
            sock.setblocking(False)
            try:
                sock.connect(self._address)
                sock.sendall(payload)
            except OSError:
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, line: str) -> bool:
        return self.send(f"STATUS={line.splitlines()[0] if line else ''}")
