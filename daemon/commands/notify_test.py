"""``rebalancer notify-test -c FILE``: send one test message to every ``notify.urls`` entry,
through the same path the daemon uses (secrets resolved, timeout, retries), and say whether it
arrived: exit 0 delivered, 1 not delivered, 2 a config or secret problem."""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

from daemon.commands.common import add_config_arg
from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.runtime.alerts import Alerts


def register(sub: Any) -> None:
    p = sub.add_parser("notify-test", help="send a test notification to notify.urls",
                       description="Send one test message to every notify.urls entry and "
                                   "report whether it was delivered.")
    add_config_arg(p)
    p.set_defaults(handler=handle_notify_test)


def handle_notify_test(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if not settings.notify.urls:
        raise ConfigError(f"{args.config}: notify.urls is empty: nothing to test")

    async def main() -> int:
        alerts = Alerts(settings.notify.model_copy(update={"events": None}),  # all events
                        log_level=settings.log.level)
        await alerts.open()  # the URLs are logged in their masked form
        sender = asyncio.create_task(alerts.run())
        try:
            alerts.emit("started", f"rebalancer test ({settings.symbol})",
                        f"test notification from {socket.gethostname()}")
            await alerts.drain(settings.notify.send_timeout_s * (1 + settings.notify.retries)
                               + 60)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await alerts.close()
        if alerts.sent:
            print(f"delivered to {len(settings.notify.urls)} URL(s)")
            return 0
        print("NOT delivered (see the log lines above)")
        return 1

    return asyncio.run(main())
