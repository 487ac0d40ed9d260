"""``rebalancer plan``: evaluate the configured strategy on one snapshot and print the Plan as
JSON (decimals as strings). The snapshot format is documented in daemon/domain/snapshot.py."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon.commands.common import add_config_arg
from daemon.config import load_config
from daemon.domain.planner import evaluate
from daemon.domain.snapshot import parse_snapshot, plan_to_dict
from daemon.errors import InputError

NO_LIVE_STATE = "no --snapshot given and live state reading is not available"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="evaluate the strategy on a snapshot and print the plan as JSON",
        description="Evaluate the configured strategy on one snapshot (JSON, see "
        "daemon/domain/snapshot.py) and print the resulting Plan as JSON. Exit 0 with a plan, "
        "2 on a bad config or snapshot.",
    )
    add_config_arg(p)
    p.add_argument(
        "--snapshot", metavar="FILE",
        help="snapshot JSON file, or - to read it from standard input",
    )
    p.set_defaults(handler=handle)


def read_snapshot_text(source: str) -> tuple[str, str]:
    """(text, name) of the snapshot at ``source`` ('-' = stdin)."""
    if source == "-":
        return sys.stdin.read(), "<stdin>"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise InputError(f"--snapshot {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--snapshot {path}: cannot read: {exc}") from None


def decode_snapshot(text: str, name: str) -> object:
    """JSON with decimals kept exact (floats parsed as Decimal)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"snapshot {name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def handle(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if args.snapshot is None:
        raise InputError(NO_LIVE_STATE)
    text, name = read_snapshot_text(args.snapshot)
    strategy = settings.strategy.params()
    snapshot = parse_snapshot(decode_snapshot(text, name), strategy, symbol=settings.symbol)
    plan = evaluate(snapshot, strategy, settings.risk.params())
    print(json.dumps(plan_to_dict(plan), indent=2), flush=True)
    return 0
