"""sd_notify messages, read from a real datagram socket as systemd would."""

from __future__ import annotations

import socket

from daemon.runtime.notify import Notifier


def test_messages(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
    assert n.enabled and n.watchdog_interval_s == 10.0
    n.ready("ok: 1 2 3")
    assert sock.recv(4096) == b"READY=1\nSTATUS=ok: 1 2 3"
    n.reloading()
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=")
    assert int(lines[1].split("=")[1]) > 0
    n.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    n.status("line one\nline two")
    assert sock.recv(4096) == b"STATUS=line one"
    n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_disabled_without_socket() -> None:
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval_s is None
    assert n.ready() is False


def test_watchdog_for_another_pid_is_ignored() -> None:
    n = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert n.watchdog_interval_s is None
