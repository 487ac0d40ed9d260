"""Lifecycle driven without OS signals: ready, reload (valid and invalid), graceful stop."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from loguru import logger

from daemon.adapters.redis_reload import Outcome, ReloadOutcome
from daemon.config import Credentials, Settings, load_config
from daemon.runtime.app import App, freeze_startup_heap
from daemon.runtime.notify import Notifier
from daemon.runtime.supervisor import Supervisor


class RecordingEngine:
    """Implements the Engine protocol and records what the lifecycle asked of it."""

    def __init__(self, settings: Settings, stop_delay_s: float = 0.0) -> None:
        self.settings = settings
        self.stop_delay_s = stop_delay_s
        self.calls: list[str] = []
        self.applied: list[Settings] = []
        self.reloads: list[ReloadOutcome] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def run(self) -> None:
        self.calls.append("run")
        await asyncio.Event().wait()

    async def apply_settings(self, settings: Settings) -> None:
        self.calls.append("apply")
        self.applied.append(settings)
        self.settings = settings

    async def stop(self) -> None:
        self.calls.append("stop")
        await asyncio.sleep(self.stop_delay_s)
        self.calls.append("stopped")

    async def close(self) -> None:
        self.calls.append("close")

    def health(self) -> str | None:
        return None

    def status_line(self) -> str:
        return f"ratio={self.settings.strategy.ratio}"

    async def record_reload(self, outcome: ReloadOutcome) -> None:
        self.reloads.append(outcome)


def make_app(tmp_path: Path, text: str, engine: list[RecordingEngine], stop_delay_s: float = 0.0,
             env: dict[str, str] | None = None) -> App:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)

    async def factory(settings: Settings, creds: Credentials | None,
                      supervisor: Supervisor) -> RecordingEngine:
        engine.append(RecordingEngine(settings, stop_delay_s))
        return engine[0]

    return App(cfg, load_config(cfg), None, factory, notifier=Notifier(env or {}))


async def until(cond: object, limit_s: float = 3.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_reload_valid_then_invalid_then_stop(tmp_path: Path) -> None:
    sock_path = str(tmp_path / "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    engines: list[RecordingEngine] = []
    app = make_app(tmp_path, "strategy:\n  ratio: 0.5\n", engines, env={"NOTIFY_SOCKET": sock_path})
    task = asyncio.create_task(app.run())
    await until(lambda: engines and "run" in engines[0].calls)
    engine = engines[0]
    loop = asyncio.get_running_loop()
    assert (await loop.sock_recv(sock, 4096)) == b"READY=1\nSTATUS=ratio=0.5"

    app.config_path.write_text("strategy:\n  ratio: 0.6\nsymbol: BTCUSDT\n")
    app.request_reload()
    await until(lambda: app.reloads_applied == 1)
    assert engine.applied[-1].strategy.ratio == Decimal("0.6")
    assert engine.applied[-1].symbol == "QRLUSDT"  # restart-only key not applied
    assert app.settings.strategy.ratio == Decimal("0.6")
    assert (await loop.sock_recv(sock, 4096)).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    assert (await loop.sock_recv(sock, 4096)) == b"READY=1\nSTATUS=ratio=0.6"

    app.config_path.write_text("strategy:\n  ratio: banana\n")
    app.request_reload()
    await until(lambda: app.reloads_rejected == 1)
    assert len(engine.applied) == 1
    assert app.settings.strategy.ratio == Decimal("0.6")
    # each outcome is handed to the engine to record (Redis: P reload)
    await until(lambda: len(engine.reloads) == 2)
    first, second = engine.reloads
    assert (first.outcome, first.applied, first.restart_only, first.errors, first.seq) == (
        Outcome.APPLIED, ("strategy.ratio",), ("symbol",), (), 1)
    assert (second.outcome, second.applied, second.seq) == (Outcome.REJECTED, (), 2)
    assert len(second.errors) == 1 and second.errors[0].startswith("strategy.ratio: "), second
    assert first.config == second.config == str(app.config_path)
    assert first.signal_ms <= first.at_ms <= second.signal_ms <= second.at_ms

    app.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert engine.calls[-2:] == ["stop", "stopped"]
    msgs = []
    while True:
        try:
            msgs.append(sock.recv(4096))
        except BlockingIOError:
            break
    assert b"STOPPING=1" in msgs
    sock.close()


async def test_shutdown_bounded_by_grace(tmp_path: Path) -> None:
    engines: list[RecordingEngine] = []
    app = make_app(tmp_path, "runtime:\n  shutdown_grace_s: 0.3\n", engines, stop_delay_s=30)
    task = asyncio.create_task(app.run())
    await until(lambda: engines and "run" in engines[0].calls)
    started = time.monotonic()
    app.request_stop()
    code = await asyncio.wait_for(task, 5)
    assert code == 1  # abandoned: the engine did not finish within the grace
    assert time.monotonic() - started < 1.0
    assert "stopped" not in engines[0].calls


async def test_stop_during_startup(tmp_path: Path) -> None:
    engines: list[RecordingEngine] = []
    app = make_app(tmp_path, "", engines)
    app.request_stop()
    assert await asyncio.wait_for(app.run(), 5) == 0
    assert engines[0].calls[-1] == "stopped"


@pytest.mark.parametrize("interval", [0.05])
async def test_watchdog_pings(tmp_path: Path, interval: float) -> None:
    sock_path = str(tmp_path / "w.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    engines: list[RecordingEngine] = []
    usec = str(int(interval * 2 * 1_000_000))
    app = make_app(tmp_path, "", engines, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": usec})
    task = asyncio.create_task(app.run())
    await asyncio.sleep(0.3)
    app.request_stop()
    await asyncio.wait_for(task, 5)
    msgs = []
    while True:
        try:
            msgs.append(sock.recv(4096))
        except BlockingIOError:
            break
    assert msgs.count(b"WATCHDOG=1") >= 3
    sock.close()


async def test_reload_to_a_log_file_that_cannot_be_opened_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reloaded ``log.file`` that cannot be opened is a rejected reload (the daemon keeps
    its settings and its log), not the end of the daemon; a reload that changes the log keeps
    the timestamps stderr lines carry outside journald."""
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    err = io.StringIO()  # the daemon's stderr (never closed, unlike capsys's)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        await _reload_log_file_then_level(tmp_path)
    finally:  # the reload reconfigured loguru for the whole process: back to its default
        logger.remove()
        logger.add(sys.__stderr__, level="DEBUG")
    after = err.getvalue().split("reload applied", 1)[1].splitlines()[1:]
    assert after and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", line)
                         for line in after if line.strip()), after


async def _reload_log_file_then_level(tmp_path: Path) -> None:
    engines: list[RecordingEngine] = []
    app = make_app(tmp_path, "strategy:\n  ratio: 0.5\n", engines)
    task = asyncio.create_task(app.run())
    await until(lambda: engines and "run" in engines[0].calls)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    app.config_path.write_text(f"strategy:\n  ratio: 0.6\nlog:\n  file: {blocked}/x.log\n")
    app.request_reload()
    await until(lambda: len(engines[0].reloads) == 1)
    rejected = engines[0].reloads[0]
    assert rejected.outcome is Outcome.REJECTED, rejected
    assert "log.file: cannot write" in rejected.errors[0], rejected.errors
    assert engines[0].applied == [] and app.settings.strategy.ratio == Decimal("0.5")
    assert not task.done()

    app.config_path.write_text("strategy:\n  ratio: 0.7\nlog:\n  level: DEBUG\n")
    app.request_reload()
    await until(lambda: len(engines[0].reloads) == 2)
    assert engines[0].reloads[1].outcome is Outcome.APPLIED
    app.request_stop()
    assert await asyncio.wait_for(task, 5) == 0


async def test_the_started_hook_runs_once_the_engine_is_up(tmp_path: Path) -> None:
    """The daemon's process freezes its startup heap (freeze_startup_heap) only once the engine
    has started: before, the engine's own objects would not be in it."""
    engines: list[RecordingEngine] = []
    seen: list[list[str]] = []
    cfg = tmp_path / "config.yaml"
    cfg.write_text("")

    async def factory(settings: Settings, creds: Credentials | None,
                      supervisor: Supervisor) -> RecordingEngine:
        engines.append(RecordingEngine(settings))
        return engines[0]

    app = App(cfg, load_config(cfg), None, factory, notifier=Notifier({}),
              on_started=lambda: seen.append(list(engines[0].calls)))
    task = asyncio.create_task(app.run())
    await until(lambda: engines and "run" in engines[0].calls)
    app.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert len(seen) == 1 and seen[0][-1] == "start"


def test_freeze_startup_heap_moves_what_is_alive_out_of_the_collections() -> None:
    import gc
    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the modules, classes and objects of this process
        freeze_startup_heap()  # again (an engine built again): unfrozen, collected, frozen
        assert abs(gc.get_freeze_count() - frozen) < frozen // 2
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
