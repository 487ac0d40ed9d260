"""Operator notifications through Apprise (one URL form for Telegram, Discord, Slack, e-mail,
ntfy, generic webhooks...), sent so that trading never waits for them.

- ``emit`` only appends to a bounded queue (``notify.queue_max``); a full queue drops the
  message and counts it (``dropped``). It never awaits.
- One sender task (``run``, a unit under the supervisor) takes the messages in order and hands
  each to Apprise's blocking ``notify`` in a thread of its own small pool, bounded by
  ``notify.send_timeout_s``; a failure is tried again ``notify.retries`` times with backoff,
  then given up and counted (``failed``). ``sent`` counts delivered messages. The counters are
  plain attributes for the metrics endpoint to read.
- Secrets are never written in config.yaml: a URL says ``${NAME}`` and the value comes from the
  environment variable NAME, else from the file NAME in ``$CREDENTIALS_DIRECTORY`` (systemd
  ``LoadCredential=``), as the MEXC keys do. URLs are logged only as Apprise's privacy form, and
  every resolved secret is masked in anything logged, Apprise's own log records included.
- Apprise is imported lazily, in a thread, and only when URLs are configured (its import and
  plugin discovery take about half a second).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from loguru import logger

from daemon.config import SECRET_REF, NotifySettings, read_secret
from daemon.errors import ConfigError

MASK = "********"
BACKOFF_S = 1.0
BACKOFF_MAX_S = 30.0
# the standard loggers whose records may carry a resolved URL (urllib3 logs the request path)
REDACTED_LOGGERS = ("apprise", "urllib3.connectionpool")
SEND_THREADS = 2  # a send stuck past its timeout holds one; the next send uses the other


@dataclass(frozen=True, slots=True)
class Alert:
    event: str  # a NotifyEvent name: what ``notify.events`` selects on
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Target:
    """The Apprise object for the configured URLs and the secret values they hold."""

    apprise: Any
    secrets: tuple[str, ...]
    shown: tuple[str, ...]  # the URLs as they may be logged


def resolve_url(url: str, env: Mapping[str, str], where: str) -> tuple[str, list[str]]:
    """``url`` with each ``${NAME}`` replaced by its secret, and the secrets used."""
    used: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        secret = read_secret(name, env)
        if secret is None:
            raise ConfigError(f"{where}: ${{{name}}} is neither set in the environment nor a "
                              "file in $CREDENTIALS_DIRECTORY")
        used.append(secret)
        return secret

    return re.sub(SECRET_REF, value, url), used


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


class _Redact(logging.Filter):
    """Masks the secrets in the log records of Apprise and of the HTTP library under it
    (should anything route the standard logging to journald)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True


_REDACT = _Redact()


def build_target(urls: tuple[str, ...], env: Mapping[str, str]) -> Target:
    """Resolve the secrets and load Apprise (blocking: run it in a thread). ConfigError names
    the URL (by index, and in its masked form) that cannot be used."""
    resolved: list[str] = []
    secrets: list[str] = []
    for i, url in enumerate(urls):
        full, used = resolve_url(url, env, f"notify.urls[{i}]")
        resolved.append(full)
        secrets.extend(used)
    import apprise  # lazily: only a daemon that notifies pays for it

    for name in REDACTED_LOGGERS:
        log = logging.getLogger(name)
        if _REDACT not in log.filters:
            log.addFilter(_REDACT)
    _REDACT.secrets = tuple(dict.fromkeys((*_REDACT.secrets, *secrets)))
    target = apprise.Apprise()
    shown: list[str] = []
    for i, full in enumerate(resolved):
        before = len(target)
        if not target.add(full) or len(target) == before:
            raise ConfigError(f"notify.urls[{i}]: Apprise does not understand "
                              f"{redact(urls[i], tuple(secrets))!r} (see "
                              "https://github.com/caronc/apprise/wiki for the URL forms)")
        server: Any = target[len(target) - 1]
        shown.append(redact(str(server.url(privacy=True)), tuple(secrets)))
    return Target(target, tuple(secrets), tuple(shown))


class Alerts:
    """The queue and its sender; see the module docstring."""

    def __init__(self, settings: NotifySettings, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._env = os.environ if env is None else env
        self._target: Target | None = None
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()  # bounded by emit (reloadable)
        self._pool: ThreadPoolExecutor | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._dropping = False  # a full queue is said once per episode
        self._sending = False  # a message taken from the queue is being sent

    @property
    def enabled(self) -> bool:
        return self._target is not None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def wants(self, event: str) -> bool:
        events = self.settings.events
        return self._target is not None and (events is None or event in events)

    async def open(self) -> None:
        """Load Apprise for the configured URLs (in a thread); ConfigError when one cannot
        be used (its secret missing, or a form Apprise does not know)."""
        await self._use(self.settings.urls)

    async def apply(self, settings: NotifySettings) -> None:
        """A reload: new URLs are loaded (a bad one raises ConfigError and nothing changes);
        every other key applies at once (the queue bound at the next ``emit``)."""
        if settings.urls != self.settings.urls:
            await self._use(settings.urls)
        self.settings = settings

    async def _use(self, urls: tuple[str, ...]) -> None:
        if not urls:
            self._target = None
            return
        target = await asyncio.to_thread(build_target, urls, self._env)
        self._target = target
        logger.info("notifications to {} URL(s): {}", len(target.shown), ", ".join(target.shown))

    def emit(self, event: str, title: str, body: str) -> None:
        """Queue one message (never waits); dropped and counted when the queue is full."""
        if not self.wants(event):
            return
        if self._queue.qsize() >= self.settings.queue_max:
            self.dropped += 1
            if not self._dropping:
                logger.warning("notification queue full ({}): dropping messages until it "
                               "drains (first dropped: {})", self.settings.queue_max, title)
            self._dropping = True
            return
        self._dropping = False
        self._queue.put_nowait(Alert(event, title, body))

    async def run(self) -> None:
        """The sender: one message at a time, in order, until cancelled."""
        while True:
            alert = await self._queue.get()
            self._sending = True
            try:
                await self._deliver(alert)
            finally:
                self._sending = False
                self._queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        tries = 1 + self.settings.retries
        problem = "not tried"
        for attempt in range(tries):
            target = self._target
            if target is None:  # a reload removed the URLs
                self.dropped += 1
                return
            outcome = await self._send_once(target, alert)
            if outcome is None:
                self.sent += 1
                return
            problem = outcome
            if attempt + 1 < tries:
                await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_S * 2 ** attempt))
        self.failed += 1
        logger.warning("notification not delivered after {} tries ({}): {}", tries,
                       redact(problem, self._secrets()), alert.title)

    async def _send_once(self, target: Target, alert: Alert) -> str | None:
        """None when delivered, else what went wrong."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="notify")
        loop = asyncio.get_running_loop()
        send = partial(target.apprise.notify, body=alert.body, title=alert.title)
        try:
            ok = await asyncio.wait_for(loop.run_in_executor(self._pool, send),
                                        self.settings.send_timeout_s)
        except TimeoutError:
            return f"no answer within {self.settings.send_timeout_s:g}s"
        except Exception as exc:  # Apprise's own failure: never the end of the sender
            return f"{type(exc).__name__}: {exc}"
        return None if ok else "the service refused it or could not be reached"

    def _secrets(self) -> tuple[str, ...]:
        return () if self._target is None else self._target.secrets

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until the queued messages are sent or given up: at shutdown."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            logger.warning("{} notification(s) not sent before stopping",
                           self._queue.qsize() + self._sending)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
