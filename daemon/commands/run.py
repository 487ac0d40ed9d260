"""``rebalancer run``: the daemon (lifecycle in daemon/runtime/app.py)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from daemon.commands.common import add_config_arg
from daemon.config import load_config, load_credentials, require_credentials_for_mode
from daemon.errors import RebalancerError
from daemon.logging_setup import configure_logging, under_journald
from daemon.runtime.app import App, freeze_startup_heap


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run the daemon",
        description="Run the rebalancer until SIGTERM/SIGINT. SIGHUP reloads the config.",
    )
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    creds = load_credentials()
    require_credentials_for_mode(settings, creds)
    # Under systemd, journald stamps each line; elsewhere add our own timestamps.
    configure_logging(settings.log, with_time=not under_journald())
    from daemon.runtime.compose import build_engine

    app = App(args.config, settings, creds, build_engine, on_started=freeze_startup_heap)
    return asyncio.run(_main(app))


async def _main(app: App) -> int:
    app.install_signal_handlers(asyncio.get_running_loop())
    code = await app.run()
    if app.failed is not None:  # one line on stderr, as every other exit names its cause
        raise RebalancerError(f"task {app.failed.name} kept dying "
                              f"({app.failed.last_failure}); exiting for systemd to restart "
                              "the daemon")
    return code
