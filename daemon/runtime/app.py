"""Lifecycle: startup -> run -> graceful shutdown, with SIGHUP reload and sd_notify.

Signal handlers only set flags (as uvicorn does); the main coroutine acts on them. Tests drive
the same paths without OS signals through ``request_stop`` / ``request_reload``.

- SIGTERM/SIGINT: stop scheduling, let the engine finish or abandon in-flight work per config,
  checkpoint, close connections, exit 0 within ``runtime.shutdown_grace_s``. Past the grace
  the connections are closed and the lease released all the same (exit 1). A second signal
  exits at once.
- Every background task (the engine's feeds, evaluations and heartbeat, the status line, the
  watchdog) runs under one ``Supervisor``: a task that dies is restarted with backoff; one that
  keeps dying shuts the daemon down with exit 1, so systemd restarts it.
- WATCHDOG=1 is sent only while ``engine.health()`` says the loop is healthy.
- SIGHUP: load and validate config.yaml again. Invalid: log every problem, keep running on the
  old config. Valid: apply the reloadable keys atomically between evaluations (the engine's
  ``apply_settings``) and log which keys changed; restart-only keys are logged, not applied.
  A SIGHUP during startup, even one before these handlers exist (``daemon.early_hangup``), is
  applied once the daemon is up. Each reload's outcome (applied, unchanged or rejected, with
  the keys and errors) is recorded in Redis (``P reload``, the engine's ``record_reload``) for
  ``rebalancer reload``; a failure to record it is logged and changes nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Protocol

from loguru import logger

from daemon import early_hangup
from daemon.adapters.redis_reload import Outcome, ReloadOutcome
from daemon.config import (
    Credentials,
    LogSettings,
    Settings,
    apply_reload,
    diff_settings,
    load_config,
)
from daemon.errors import ConfigError, RebalancerError
from daemon.logging_setup import configure_logging, under_journald
from daemon.runtime.notify import Notifier
from daemon.runtime.supervisor import RestartPolicy, Supervised, Supervisor

EXIT_OK = 0
EXIT_FORCED = 1  # the shutdown overran its grace period
EXIT_FAILED = 1  # a background task kept dying: systemd restarts the daemon
CLOSE_TIMEOUT_S = 10.0  # closing what an overrun shutdown left open
RECORD_TIMEOUT_S = 3.0  # recording a reload's outcome in Redis (a Redis down: not recorded)


class Engine(Protocol):
    """What the lifecycle needs of the orchestrator."""

    async def start(self) -> None:
        """Bring streams and state up; return when ready to decide (READY=1 follows)."""

    async def run(self) -> None:
        """The heartbeat, run under the supervisor until cancelled."""

    async def apply_settings(self, settings: Settings) -> None:
        """Swap to new settings between evaluations."""

    async def stop(self) -> None:
        """Stop scheduling, settle in-flight work per config, checkpoint, close connections."""

    async def close(self) -> None:
        """Close connections and release the lease now (after an overrun stop)."""

    def health(self) -> str | None:
        """None while healthy (the systemd watchdog is fed), else why not."""

    def status_line(self) -> str:
        """One line for systemd STATUS= and the logs."""

    async def record_reload(self, outcome: ReloadOutcome) -> None:
        """Record a reload's outcome for ``rebalancer reload`` (may raise: it is logged)."""


# Builds the engine (its I/O included); its background tasks run under the supervisor given.
EngineFactory = Callable[[Settings, Credentials | None, Supervisor], Awaitable[Engine]]


def freeze_startup_heap() -> None:
    """Once the engine is up: collect, then move every object alive now (modules, config,
    clients: they live as long as the process) out of the garbage collector's generations, so
    that a full collection, which can start in the middle of a decision, no longer walks them
    (it was the decision path's worst pauses: its p99, issue 20). Only for the daemon's own
    process: objects frozen are never collected, which a process building many engines (the
    tests) would pile up; an engine built again after a failure unfreezes first, so that the
    old one's garbage is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class App:
    def __init__(
        self,
        config_path: str | os.PathLike[str],
        settings: Settings,
        creds: Credentials | None,
        engine_factory: EngineFactory,
        *,
        notifier: Notifier | None = None,
        status_interval_s: float = 30.0,
        restart_policy: RestartPolicy | None = None,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self._on_started = on_started  # the daemon's process: freeze_startup_heap
        self._config_shown = os.path.abspath(config_path)  # in reload records
        self.settings = settings
        self.creds = creds
        self._engine_factory = engine_factory
        self.notifier = notifier or Notifier()
        self.status_interval_s = status_interval_s
        self.supervisor = Supervisor(
            restart_policy or RestartPolicy.from_settings(settings.runtime),
            on_give_up=self._gave_up)
        self._fixed_policy = restart_policy is not None
        self.engine: Engine | None = None
        self._wake = asyncio.Event()
        self._stop_requested = False
        self._reload_requested = False
        self.failed: Supervised | None = None
        self.reloads_applied = 0
        self.reloads_rejected = 0
        self._logging: LogSettings | None = settings.log  # as run() configured it
        self._reload_seq = 0  # reloads done by this process
        self._reload_asked_ms = 0  # wall clock of the last reload request (SIGHUP received)

    # -- requests (signal handlers and tests) -------------------------------------------
    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._reload_asked_ms = _wall_ms()
        self._wake.set()

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        def on_stop(signum: int) -> None:
            if self._stop_requested:
                logger.warning("second {} received: exiting at once", signal.Signals(signum).name)
                os._exit(EXIT_FORCED)
            logger.info("{} received: shutting down", signal.Signals(signum).name)
            self.request_stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        if early_hangup.take():  # one came while the process was starting
            logger.info("SIGHUP received while starting: reloading once the daemon is up")
            self.request_reload()

    def _gave_up(self, unit: Supervised) -> None:
        self.failed = unit
        self._wake.set()

    # -- main ------------------------------------------------------------------------------
    async def run(self) -> int:
        """Exit code: 0 after a clean stop, non-zero after an overrun stop or when a
        background task kept dying; a startup failure raises (the CLI reports it)."""
        logger.info("starting: symbol={} mode={} config={}", self.settings.symbol,
                    self.settings.mode.value, self.config_path)
        engine = await self._start()
        if engine is None:  # stop requested during startup: it closed what it had opened
            self.notifier.stopping()
            return EXIT_OK
        self.notifier.ready(engine.status_line())
        logger.info("ready: {}", engine.status_line())
        own = [self.supervisor.spawn("heartbeat", engine.run),
               self.supervisor.spawn("status", partial(self._status_loop, engine))]
        if self.notifier.watchdog_interval_s:
            own.append(self.supervisor.spawn("watchdog", partial(self._watchdog_loop, engine)))
        if self._reload_requested:
            self._wake.set()  # a SIGHUP during startup is handled now
        try:
            await self._main_loop(engine)
        finally:
            await self.supervisor.cancel(*own)
        code = await self._shutdown(engine)
        return EXIT_FAILED if self.failed is not None else code

    async def _start(self) -> Engine | None:
        """Build and start the engine, or None when a stop request came first."""
        start_task = asyncio.create_task(self._build_and_start())
        while not start_task.done():
            wake = asyncio.create_task(self._wake.wait())
            await asyncio.wait({start_task, wake}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            if self._stop_requested:
                break
            self._wake.clear()  # a reload request waits until the engine is up
        if not start_task.done():
            start_task.cancel()
            await asyncio.gather(start_task, return_exceptions=True)
            return None
        return start_task.result()  # a startup failure propagates to the CLI

    async def _build_and_start(self) -> Engine:
        engine = await self._engine_factory(self.settings, self.creds, self.supervisor)
        self.engine = engine
        await engine.start()
        if self._on_started is not None:
            self._on_started()
        return engine

    async def _main_loop(self, engine: Engine) -> None:
        while not self._stop_requested and self.failed is None:
            await self._wake.wait()
            self._wake.clear()
            if self.failed is not None:
                logger.error("task {} kept dying ({}); shutting down (systemd restarts the "
                             "daemon)", self.failed.name, self.failed.last_failure)
                return
            if self._reload_requested and not self._stop_requested:
                self._reload_requested = False
                await self.reload(engine)

    async def reload(self, engine: Engine) -> bool:
        """Re-read the config file; True when it was valid (applied, or nothing reloadable
        changed). The outcome is logged and recorded (``engine.record_reload``)."""
        asked_ms = self._reload_asked_ms or _wall_ms()
        self.notifier.reloading()
        try:
            outcome, applied, restart_only, errors = await self._reload(engine)
        finally:
            self.notifier.ready(engine.status_line())
        self._reload_seq += 1
        await self._record(engine, ReloadOutcome(
            outcome, signal_ms=asked_ms, at_ms=_wall_ms(), seq=self._reload_seq,
            config=self._config_shown, applied=tuple(applied),
            restart_only=tuple(restart_only), errors=tuple(errors)))
        return outcome is not Outcome.REJECTED

    async def _reload(self, engine: Engine) -> tuple[Outcome, list[str], list[str], list[str]]:
        """(outcome, keys applied, restart-only keys changed, errors), each logged."""
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self.reloads_rejected += 1
            logger.error("reload rejected, still running on the old config:")
            for problem in exc.problems:
                logger.error("  {}", problem)
            return Outcome.REJECTED, [], [], list(exc.problems)
        except Exception as exc:  # a loader bug: still never the end of a running daemon
            self.reloads_rejected += 1
            logger.exception("reload failed; still running on the old config")
            return Outcome.REJECTED, [], [], [f"the config could not be loaded: {exc!r}"]
        changed, restart_only = diff_settings(self.settings, new)
        for key in restart_only:
            logger.warning("reload: {} changed but needs a restart; not applied", key)
        if not changed:
            logger.info("reload: no reloadable key changed")
            return Outcome.UNCHANGED, [], restart_only, []
        effective = apply_reload(self.settings, new)
        try:
            self._log_to(effective)  # first: a log file that cannot be opened changes nothing
            await engine.apply_settings(effective)
        except Exception as exc:
            with contextlib.suppress(ConfigError):  # the old file gone too: stderr still logs
                self._log_to(self.settings)
            self.reloads_rejected += 1
            logger.opt(exception=not isinstance(exc, RebalancerError)).error(
                "reload could not be applied; still running on the old config: {}", exc)
            return Outcome.REJECTED, [], restart_only, [f"not applied: {exc}"]
        self.settings = effective
        if not self._fixed_policy:
            self.supervisor.policy = RestartPolicy.from_settings(effective.runtime)
        self.reloads_applied += 1
        logger.info("reload applied: {}", ", ".join(changed))
        return Outcome.APPLIED, changed, restart_only, []

    def _log_to(self, settings: Settings) -> None:
        """Log as ``settings`` say (ConfigError: a file that cannot be opened; stderr only)."""
        if settings.log == self._logging:
            return
        self._logging = None
        configure_logging(settings.log, with_time=not under_journald())
        self._logging = settings.log

    async def _record(self, engine: Engine, outcome: ReloadOutcome) -> None:
        try:
            await asyncio.wait_for(engine.record_reload(outcome), RECORD_TIMEOUT_S)
        except Exception as exc:  # Redis down or slow: the log above still says it all
            logger.warning("reload outcome not recorded in Redis ({}); `rebalancer reload` "
                           "cannot report it", str(exc) or type(exc).__name__)

    async def _shutdown(self, engine: Engine) -> int:
        """``engine.stop()`` within the grace period; past it (or when it fails) the
        connections are closed and the lease released all the same."""
        self.notifier.stopping()
        grace = self.settings.runtime.shutdown_grace_s
        logger.info("stopping (grace {}s)", grace)
        code = EXIT_OK
        try:
            await asyncio.wait_for(engine.stop(), timeout=grace)
            logger.info("stopped cleanly")
        except TimeoutError:
            logger.error("shutdown exceeded {}s; abandoning what is left, closing the "
                         "connections and releasing the lease", grace)
            code = EXIT_FORCED
        except Exception:
            logger.exception("shutdown failed; closing the connections and releasing the lease")
            code = EXIT_FAILED
        if code != EXIT_OK:
            try:
                await asyncio.wait_for(engine.close(), CLOSE_TIMEOUT_S)
            except Exception:
                logger.exception("closing after a failed shutdown failed")
        await self.supervisor.stop()  # anything still running (nothing, normally)
        return code

    async def _status_loop(self, engine: Engine) -> None:
        while True:
            await asyncio.sleep(self.status_interval_s)
            self.notifier.status(engine.status_line())

    async def _watchdog_loop(self, engine: Engine) -> None:
        """WATCHDOG=1 only while the engine is healthy: a dead feed or a stuck evaluation
        stops the pings, and systemd restarts the daemon after WatchdogSec."""
        interval = self.notifier.watchdog_interval_s or 1.0
        reported: str | None = None
        while True:
            problem = engine.health()
            if problem is None:
                self.notifier.watchdog()
                if reported is not None:
                    logger.info("healthy again; feeding the systemd watchdog")
            elif problem != reported:
                logger.error("unhealthy ({}); not feeding the systemd watchdog", problem)
            reported = problem
            await asyncio.sleep(interval)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
