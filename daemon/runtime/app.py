"""Lifecycle: startup -> run -> graceful shutdown, with SIGHUP reload and sd_notify.

Signal handlers only set flags (as uvicorn does); the main coroutine acts on them. Tests drive
the same paths without OS signals through ``request_stop`` / ``request_reload``.

- SIGTERM/SIGINT: stop scheduling, let the engine finish or abandon in-flight work per config,
  checkpoint, close connections, exit 0 within ``runtime.shutdown_grace_s``. A second signal
  exits at once.
- SIGHUP: load and validate config.yaml again. Invalid: log every problem, keep running on the
  old config. Valid: apply the reloadable keys atomically between evaluations (the engine's
  ``apply_settings``) and log which keys changed; restart-only keys are logged, not applied.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from loguru import logger

from daemon.config import (
    Credentials,
    Settings,
    apply_reload,
    diff_settings,
    load_config,
)
from daemon.errors import ConfigError
from daemon.logging_setup import configure_logging
from daemon.runtime.notify import Notifier
from daemon.runtime.tasks import cancel_and_wait

EXIT_OK = 0
EXIT_FORCED = 1


class Engine(Protocol):
    """What the lifecycle needs of the orchestrator."""

    async def start(self) -> None:
        """Bring streams and state up; return when ready to decide (READY=1 follows)."""

    async def run(self) -> None:
        """Run until cancelled."""

    async def apply_settings(self, settings: Settings) -> None:
        """Swap to new settings between evaluations."""

    async def stop(self) -> None:
        """Stop scheduling, settle in-flight work per config, checkpoint, close connections."""

    def status_line(self) -> str:
        """One line for systemd STATUS= and the logs."""


EngineFactory = Callable[[Settings, Credentials | None], Engine]


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
    ) -> None:
        self.config_path = Path(config_path)
        self.settings = settings
        self.creds = creds
        self._engine_factory = engine_factory
        self.notifier = notifier or Notifier()
        self.status_interval_s = status_interval_s
        self.engine: Engine | None = None
        self._wake = asyncio.Event()
        self._stop_requested = False
        self._reload_requested = False
        self.reloads_applied = 0
        self.reloads_rejected = 0

    # -- requests (signal handlers and tests) -------------------------------------------
    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
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

    # -- main ------------------------------------------------------------------------------
    async def run(self) -> int:
        engine = self._engine_factory(self.settings, self.creds)
        self.engine = engine
        logger.info("starting: symbol={} mode={} config={}", self.settings.symbol,
                    self.settings.mode.value, self.config_path)
        start_task = asyncio.create_task(engine.start())
        stop_wait = asyncio.create_task(self._wake.wait())
        await asyncio.wait({start_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not start_task.done():  # stop requested during startup
            start_task.cancel()
            await asyncio.gather(start_task, return_exceptions=True)
            return await self._shutdown(engine)
        stop_wait.cancel()
        start_task.result()  # startup failure propagates to the CLI
        self.notifier.ready(engine.status_line())
        logger.info("ready: {}", engine.status_line())
        side_tasks = [asyncio.create_task(engine.run(), name="engine"),
                      asyncio.create_task(self._status_loop(engine), name="status")]
        if self.notifier.watchdog_interval_s:
            side_tasks.append(asyncio.create_task(self._watchdog_loop(), name="watchdog"))
        try:
            await self._main_loop(engine, side_tasks[0])
        except Exception:
            logger.exception("the engine failed; shutting down (systemd restarts the daemon)")
            await cancel_and_wait(side_tasks)
            await self._shutdown(engine)
            raise
        await cancel_and_wait(side_tasks)
        return await self._shutdown(engine)

    async def _main_loop(self, engine: Engine, engine_task: asyncio.Task[None]) -> None:
        while not self._stop_requested:
            wake = asyncio.create_task(self._wake.wait())
            await asyncio.wait({wake, engine_task}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            if engine_task.done():
                engine_task.result()  # an engine crash ends the daemon (systemd restarts it)
                logger.warning("engine stopped by itself; shutting down")
                return
            self._wake.clear()
            if self._reload_requested and not self._stop_requested:
                self._reload_requested = False
                await self.reload(engine)

    async def reload(self, engine: Engine) -> bool:
        """Re-read the config file; True when the new settings were applied."""
        self.notifier.reloading()
        try:
            try:
                new = load_config(self.config_path)
            except ConfigError as exc:
                self.reloads_rejected += 1
                logger.error("reload rejected, still running on the old config:")
                for problem in exc.problems:
                    logger.error("  {}", problem)
                return False
            changed, restart_only = diff_settings(self.settings, new)
            for key in restart_only:
                logger.warning("reload: {} changed but needs a restart; not applied", key)
            if not changed:
                logger.info("reload: no reloadable key changed")
                return True
            effective = apply_reload(self.settings, new)
            try:
                await engine.apply_settings(effective)
            except Exception:
                self.reloads_rejected += 1
                logger.exception("reload could not be applied; still running on the old config")
                return False
            if effective.log != self.settings.log:
                configure_logging(effective.log)
            self.settings = effective
            self.reloads_applied += 1
            logger.info("reload applied: {}", ", ".join(changed))
            return True
        finally:
            self.notifier.ready(engine.status_line())

    async def _shutdown(self, engine: Engine) -> int:
        self.notifier.stopping()
        grace = self.settings.runtime.shutdown_grace_s
        logger.info("stopping (grace {}s)", grace)
        try:
            await asyncio.wait_for(engine.stop(), timeout=grace)
        except TimeoutError:
            logger.error("shutdown exceeded {}s; abandoning what is left", grace)
            return EXIT_FORCED
        logger.info("stopped cleanly")
        return EXIT_OK

    async def _status_loop(self, engine: Engine) -> None:
        while True:
            await asyncio.sleep(self.status_interval_s)
            self.notifier.status(engine.status_line())

    async def _watchdog_loop(self) -> None:
        interval = self.notifier.watchdog_interval_s or 1.0
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)
