"""``rebalancer run``: the daemon (lifecycle in daemon/runtime/app.py)."""

from __future__ import annotations

import argparse
from typing import Any

from daemon.commands.common import add_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("run", help="run the daemon")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    raise NotImplementedError("run: the lifecycle lands with issue 2")
