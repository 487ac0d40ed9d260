"""Operator notifications through Apprise (one URL form for Telegram, Discord, Slack, e-mail,
ntfy, generic webhooks...), sent so that trading never waits for them.

- ``emit`` only appends to a bounded queue (``notify.queue_max``); a full queue drops the
  message and counts it (``dropped``). It never awaits.
- One sender task (``run``, a unit under the supervisor) takes the messages in order and hands
  each to a sender process (``daemon.runtime.alerts_worker``: Apprise's blocking send, in a
  process so that its Python code never holds this process's GIL while a decision runs),
  bounded by ``notify.send_timeout_s``: a worker that does not answer in time is killed and
  started again. A failure is tried again ``notify.retries`` times with backoff, then given up
  and counted (``failed``); ``sent`` counts delivered messages. The counters are plain
  attributes for the metrics endpoint to read.
- Secrets are never written in config.yaml: a URL says ``${NAME}`` and the value comes from the
  environment variable NAME, else from the file NAME in ``$CREDENTIALS_DIRECTORY`` (systemd
  ``LoadCredential=``), as the MEXC keys do. They reach the worker over its stdin (never argv
  or the environment). URLs are logged only in Apprise's privacy form, and every resolved
  secret is masked in anything logged, the worker's own records included.
- Apprise is never imported by the daemon itself; the worker is started only when URLs are
  configured.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from loguru import logger

from daemon.config import SECRET_REF, NotifySettings, read_secret
from daemon.errors import ConfigError, NotifierGone
from daemon.runtime.alerts_worker import redact

BACKOFF_S = 1.0
BACKOFF_MAX_S = 30.0
WORKER_ENV_DROPPED = ("MEXC_API_KEY", "MEXC_API_SECRET", "CREDENTIALS_DIRECTORY")
HOLD_POLL_S = 0.01
HOLD_MAX_S = 2.0  # a message waits at most this long for the decision running to end
OPEN_TIMEOUT_S = 60.0  # the worker's start: Python, Apprise and its plugins (about a second)
_STD_LEVELS = {"TRACE": "DEBUG", "SUCCESS": "INFO"}  # loguru's names the logging module lacks


@dataclass(frozen=True, slots=True)
class Alert:
    event: str  # a NotifyEvent name: what ``notify.events`` selects on
    title: str
    body: str


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


class _Worker:
    """One sender process and its pipes; one request at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, stderr: int | IO[Any] | None) -> _Worker:
        # the exchange keys stay in this process: the worker gets only what it needs
        env = {k: v for k, v in os.environ.items() if k not in WORKER_ENV_DROPPED}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.runtime.alerts_worker", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr)
        return cls(proc)

    async def call(self, request: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """The answer to one request; NotifierGone (and the worker killed: an answer left
        unread would be taken for the next one's) when it does not come."""
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            await asyncio.wait_for(proc.stdin.drain(), timeout_s)
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
            answer: dict[str, Any] = json.loads(line) if line else {}
        except BaseException as exc:  # cancelled too: the pipe is out of step from here
            self.kill()
            if isinstance(exc, TimeoutError):
                raise NotifierGone(f"no answer within {timeout_s:g}s") from None
            if isinstance(exc, ConnectionError | ValueError):
                raise NotifierGone(f"the sender process failed ({exc})") from None
            raise
        if not line:
            raise NotifierGone(f"the sender process exited ({proc.returncode})")
        return answer

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        self.kill()
        await self.proc.wait()


class Alerts:
    """The queue and its sender; see the module docstring."""

    def __init__(self, settings: NotifySettings, env: Mapping[str, str] | None = None, *,
                 log_level: str = "WARNING", stderr: int | IO[Any] | None = None) -> None:
        self.settings = settings
        self._env = os.environ if env is None else env
        # the worker's records: Apprise says INFO at every send; shown only when debugging
        std = _STD_LEVELS.get(log_level, log_level)
        self._log_level = std if std == "DEBUG" else "WARNING"
        self._stderr = stderr  # the worker's (None: this process's, i.e. the journal)
        self._open: dict[str, Any] | None = None  # the worker's open request (URLs resolved)
        self._secrets: tuple[str, ...] = ()
        self._worker: _Worker | None = None
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()  # bounded by emit (reloadable)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._dropping = False  # a full queue is said once per episode
        self._sending = False  # a message taken from the queue is being sent
        # True while a decision runs: the sender waits (up to HOLD_MAX_S) before handing a
        # message over, so that even the pipe and the sender process's CPU stay out of its way
        self.hold: Callable[[], bool] = lambda: False

    @property
    def enabled(self) -> bool:
        return self._open is not None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def wants(self, event: str) -> bool:
        events = self.settings.events
        return self._open is not None and (events is None or event in events)

    async def open(self) -> None:
        """Start the sender process for the configured URLs; ConfigError when one cannot be
        used (its secret missing, or a form Apprise does not know), NotifierGone when the
        process cannot start."""
        await self._use(self.settings.urls)

    async def apply(self, settings: NotifySettings) -> None:
        """A reload: new URLs are loaded (a bad one raises ConfigError and nothing changes);
        every other key applies at once (the queue bound at the next ``emit``)."""
        if settings.urls != self.settings.urls:
            await self._use(settings.urls)
        self.settings = settings

    async def _use(self, urls: tuple[str, ...]) -> None:
        if not urls:
            await self._stop_worker()
            self._open = None
            return
        resolved: list[str] = []
        secrets: list[str] = []
        for i, url in enumerate(urls):
            full, used = resolve_url(url, self._env, f"notify.urls[{i}]")
            resolved.append(full)
            secrets.extend(used)
        request = {"op": "open", "urls": resolved, "secrets": secrets,
                   "log_level": self._log_level}
        try:
            worker = await _Worker.start(self._stderr)
        except OSError as exc:
            raise NotifierGone(f"notifications: the sender process could not start ({exc})") \
                from None
        try:
            answer = await worker.call(request, OPEN_TIMEOUT_S)
        except NotifierGone as exc:
            await worker.stop()
            raise NotifierGone(f"notifications: the sender process could not start ({exc})") \
                from None
        if not answer.get("ok"):
            await worker.stop()
            i = int(answer.get("index", 0))
            raise ConfigError(f"notify.urls[{i}]: {answer.get('error')}: "
                              f"{redact(urls[i], tuple(secrets))!r} (see "
                              "https://github.com/caronc/apprise/wiki for the URL forms)")
        await self._stop_worker()
        self._worker, self._open, self._secrets = worker, request, tuple(secrets)
        shown = [str(s) for s in answer.get("shown", [])]
        logger.info("notifications to {} URL(s): {}", len(shown), ", ".join(shown))

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
                await self._after_decision()
                await self._deliver(alert)
            finally:
                self._sending = False
                self._queue.task_done()

    async def _after_decision(self) -> None:
        waited = 0.0
        while self.hold() and waited < HOLD_MAX_S:
            await asyncio.sleep(HOLD_POLL_S)
            waited += HOLD_POLL_S

    async def _deliver(self, alert: Alert) -> None:
        tries = 1 + self.settings.retries
        problem = "not tried"
        for attempt in range(tries):
            if self._open is None:  # a reload removed the URLs
                self.dropped += 1
                return
            outcome = await self._send_once(alert)
            if outcome is None:
                self.sent += 1
                return
            problem = outcome
            if attempt + 1 < tries:
                await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_S * 2 ** attempt))
        self.failed += 1
        logger.warning("notification not delivered after {} tries ({}): {}", tries,
                       redact(problem, self._secrets), alert.title)

    async def _send_once(self, alert: Alert) -> str | None:
        """None when delivered, else what went wrong. A worker that does not answer in time
        (or died) is killed; the next try starts a new one."""
        request = {"op": "send", "title": alert.title, "body": alert.body}
        try:
            worker = await self._running_worker()
        except (NotifierGone, OSError) as exc:  # OSError: the process could not be started
            return f"the sender process could not start ({exc})"
        try:
            answer = await worker.call(request, self.settings.send_timeout_s)
        except NotifierGone as exc:
            if self._worker is worker:  # not replaced by a reload meanwhile
                self._worker = None
            await worker.stop()
            return str(exc)
        return None if answer.get("ok") else str(answer.get("error"))

    async def _running_worker(self) -> _Worker:
        if self._worker is None:
            assert self._open is not None
            worker = await _Worker.start(self._stderr)
            try:
                answer = await worker.call(self._open, OPEN_TIMEOUT_S)
            except NotifierGone:
                await worker.stop()
                raise
            if not answer.get("ok"):
                await worker.stop()
                raise NotifierGone(f"the sender process refused the URLs ({answer.get('error')})")
            self._worker = worker
        return self._worker

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until the queued messages are sent or given up: at shutdown."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            logger.warning("{} notification(s) not sent before stopping",
                           self._queue.qsize() + self._sending)

    async def close(self) -> None:
        """End the sender process (after ``drain``)."""
        await self._stop_worker()
