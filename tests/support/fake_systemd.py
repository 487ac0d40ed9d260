"""The receiving end of NOTIFY_SOCKET, as systemd has it: a datagram socket that keeps every
message with the time it was read."""

from __future__ import annotations

import asyncio
import socket
import time


class FakeSystemd:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages: list[tuple[float, str]] = []
        self._watching = False

    def watch(self) -> None:
        """Read each datagram as soon as it arrives (systemd's queue is short: a sender whose
        datagrams are not read would block)."""
        asyncio.get_running_loop().add_reader(self.sock, self.drain)
        self._watching = True

    def close(self) -> None:
        if self._watching:
            asyncio.get_running_loop().remove_reader(self.sock)
        self.sock.close()

    def drain(self) -> list[str]:
        """Every message so far, oldest first."""
        while True:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except BlockingIOError:
                return [m for _, m in self.messages]

    def clear(self) -> None:
        self.drain()
        self.messages.clear()

    def pings(self) -> list[float]:
        """When each WATCHDOG=1 was read."""
        self.drain()
        return [t for t, m in self.messages if m == "WATCHDOG=1"]
