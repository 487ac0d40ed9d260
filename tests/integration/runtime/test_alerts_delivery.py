"""Notifications over real HTTP into a local receiver (Apprise's json:// webhook): delivery,
secrets from the environment or $CREDENTIALS_DIRECTORY (never logged), retries with backoff,
a receiver that hangs or is down, and a full queue that drops and counts."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from loguru import logger

from daemon.config import NotifySettings, parse_settings
from daemon.errors import ConfigError
from daemon.runtime import alerts as alerts_module
from daemon.runtime.alerts import Alerts
from tests.support.notify_receiver import Receiver, black_hole, receiver

SECRET = "s3cr3t-T0ken-value"


WORKER_LOG = "notify-worker.log"


def _log_file(logs: Path | None) -> IO[bytes]:
    return Path(os.devnull if logs is None else logs / WORKER_LOG).open("ab")


@asynccontextmanager
async def sending(settings: NotifySettings, env: dict[str, str],
                  logs: Path | None = None) -> AsyncIterator[Alerts]:
    """Alerts with its sender task; the worker logs at DEBUG into ``logs``/notify-worker.log."""
    with _log_file(logs) as worker_log:
        alerts = Alerts(settings, env=env, log_level="DEBUG", stderr=worker_log)
        await alerts.open()
        task = asyncio.create_task(alerts.run())
        try:
            yield alerts
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await alerts.close()


@contextmanager
def all_logs(tmp_path: Path) -> Iterator[list[str]]:
    """Everything logged through loguru, plus the sender process's log (Apprise's, urllib3's
    records at DEBUG), read when the block ends."""
    said: list[str] = []
    sink = logger.add(lambda m: said.append(str(m)), level="TRACE")
    try:
        yield said
    finally:
        logger.remove(sink)
        worker_log = tmp_path / WORKER_LOG
        said.append(worker_log.read_text() if worker_log.exists() else "")


def basic_password(rec: Receiver) -> str:
    auth = rec.got[-1].headers["Authorization"].removeprefix("Basic ")
    return base64.b64decode(auth).decode().partition(":")[2]


async def test_delivers_with_the_secret_from_the_environment_and_never_logs_it(
        tmp_path: Path) -> None:
    async with receiver() as rec:
        rec.fail_next = 1  # the first try fails: retried after the backoff
        settings = NotifySettings(urls=(rec.url(auth="bot:${NOTIFY_TOKEN}@"),), retries=2)
        with all_logs(tmp_path) as said:
            async with sending(settings, {"NOTIFY_TOKEN": SECRET}, tmp_path) as alerts:
                alerts.emit("order", "QRLUSDT BUY FILLED", "BUY 100 of 100 QRL")
                await alerts.drain(10)
        assert (alerts.sent, alerts.failed, alerts.dropped) == (1, 0, 0)
        assert rec.requests == 2
        assert [(r.title, r.message) for r in rec.got] == [("QRLUSDT BUY FILLED",
                                                            "BUY 100 of 100 QRL")]
        assert basic_password(rec) == SECRET  # the secret was resolved and used
    text = "\n".join(said)
    assert "notifications to 1 URL(s)" in text
    assert SECRET not in text


async def test_a_secret_in_the_url_path_is_masked_in_every_log(
        tmp_path: Path) -> None:
    """Webhook secrets often sit in the path: Apprise masks them in its own records, the HTTP
    library under it (urllib3, at DEBUG) does not; the sender process's filter does."""
    async with receiver() as rec:
        settings = NotifySettings(urls=(rec.url(path="hooks/${HOOK_SECRET}"),))
        with all_logs(tmp_path) as said:
            async with sending(settings, {"HOOK_SECRET": SECRET}, tmp_path) as alerts:
                alerts.emit("started", "rebalancer started", "live")
                await alerts.drain(10)
        assert alerts.sent == 1
        assert rec.got[0].path == f"/hooks/{SECRET}"
    text = "\n".join(said)
    assert "POST /hooks/********" in text  # urllib3's record, masked
    assert SECRET not in text


async def test_secret_from_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "NOTIFY_TOKEN").write_text(SECRET + "\n")
    async with receiver() as rec:
        settings = NotifySettings(urls=(rec.url(auth="bot:${NOTIFY_TOKEN}@"),))
        async with sending(settings, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) as alerts:
            alerts.emit("started", "rebalancer started", "dry_run")
            await alerts.drain(10)
        assert alerts.sent == 1
        assert basic_password(rec) == SECRET


async def test_a_missing_secret_or_an_unknown_url_is_a_config_error() -> None:
    missing = Alerts(NotifySettings(urls=("json://u:${NO_SUCH_SECRET}@127.0.0.1:9/x",)), env={})
    with pytest.raises(ConfigError, match=r"notify.urls\[0\]: \$\{NO_SUCH_SECRET\} is neither"):
        await missing.open()
    unknown = Alerts(NotifySettings(urls=("nosuchservice://${T}@host",)), env={"T": SECRET})
    with pytest.raises(ConfigError) as err:
        await unknown.open()
    assert "notify.urls[0]: Apprise does not understand" in str(err.value)
    assert SECRET not in str(err.value)


def test_config_rejects_a_malformed_reference_and_a_non_url() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"notify": {"urls": ["json://host/${bad-name}", "plain text"],
                                   "daily_summary_utc": "24:00", "events": ["nope"]}})
    text = "\n".join(err.value.problems)
    assert "notify.urls" in text and "${NAME}" in text
    assert "notify.daily_summary_utc" in text
    assert "notify.events.0" in text
    ok = parse_settings({"notify": {"urls": ["tgram://${TELEGRAM_TOKEN}/12345"],
                                    "daily_summary_utc": "00:00", "events": ["order"]}})
    assert ok.notify.urls == ("tgram://${TELEGRAM_TOKEN}/12345",)


async def test_failures_are_counted_and_the_secret_is_masked_in_apprise_logs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_module, "BACKOFF_S", 0.01)
    async with receiver() as rec:
        rec.fail_next = 100  # the service refuses everything
        settings = NotifySettings(urls=(rec.url(auth="bot:${NOTIFY_TOKEN}@"),), retries=2)
        with all_logs(tmp_path) as said:
            async with sending(settings, {"NOTIFY_TOKEN": SECRET}, tmp_path) as alerts:
                alerts.emit("halted", "trading halted", "by the operator")
                await alerts.drain(10)
        assert (alerts.sent, alerts.failed) == (0, 1)
        assert rec.requests == 3  # 1 + retries
    text = "\n".join(said)
    assert "notification not delivered after 3 tries" in text
    assert SECRET not in text


async def test_a_hanging_receiver_never_makes_emit_wait_and_a_full_queue_drops(
        tmp_path: Path) -> None:
    async with black_hole() as port:
        settings = NotifySettings(urls=(f"json://bot:${{T}}@127.0.0.1:{port}/hook",),
                                  queue_max=5, retries=0, send_timeout_s=0.5)
        with all_logs(tmp_path) as said:
            async with sending(settings, {"T": SECRET}, tmp_path) as alerts:
                started = time.perf_counter()
                for i in range(50):
                    alerts.emit("order", f"order {i}", "filled")
                emit_s = time.perf_counter() - started
                await asyncio.sleep(0)  # the sender takes the first message
                assert alerts.queued <= 5
                await asyncio.sleep(1.2)  # the first send times out: counted as failed
                failed_then = alerts.failed
    assert emit_s < 0.05, emit_s  # 50 emits: no I/O, no waiting
    assert alerts.dropped >= 44  # 5 queued (+1 taken by the sender), the rest dropped
    assert failed_then >= 1
    text = "\n".join(said)
    assert "notification queue full (5)" in text
    assert text.count("notification queue full") == 1  # said once per episode
    assert SECRET not in text


async def test_a_send_that_hangs_kills_the_sender_process_and_the_retry_delivers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_module, "BACKOFF_S", 0.01)
    async with receiver() as rec:
        rec.hang_next = 1
        settings = NotifySettings(urls=(rec.url(),), retries=1, send_timeout_s=1)
        async with sending(settings, {}, tmp_path) as alerts:
            first = alerts._worker
            assert first is not None
            alerts.emit("order", "after a hang", "x")
            await alerts.drain(20)
            assert first.proc.returncode is not None  # killed at the timeout
            assert alerts._worker is not None and alerts._worker is not first
        assert (alerts.sent, alerts.failed) == (1, 0)
        assert rec.requests == 2 and rec.titles() == ["after a hang"]


async def test_reload_changes_urls_and_selects_events() -> None:
    async with receiver() as first, receiver() as second, sending(
            NotifySettings(urls=(first.url(),)), {}) as alerts:
        alerts.emit("started", "one", "to the first")
        await alerts.drain(5)
        await alerts.apply(NotifySettings(urls=(second.url(),), events=("order",)))
        alerts.emit("started", "two", "not selected")
        alerts.emit("order", "three", "to the second")
        await alerts.drain(5)
        bad: Any = NotifySettings(urls=("json://x:${MISSING}@127.0.0.1:9/",))
        with pytest.raises(ConfigError):
            await alerts.apply(bad)
        alerts.emit("order", "four", "still to the second")  # the old settings kept
        await alerts.drain(5)
    assert first.titles() == ["one"]
    assert second.titles() == ["three", "four"]
