"""Command line: ``rebalancer <command> ...``. The only place that exits the process.

Each subcommand lives in ``daemon/commands/<name>.py`` and exposes
``register(subparsers) -> None``; the parser it adds sets ``handler`` to a function
``(args) -> int`` returning the exit code (0 ok, 2 bad input/config, 1 runtime failure)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from daemon import early_hangup

early_hangup.hold()  # a SIGHUP during the imports below does not end the daemon

from daemon.commands import (  # noqa: E402
    backtest,
    candles,
    check_config,
    control,
    demo,
    history,
    notify_test,
    plan,
    pnl,
    rebalance_now,
    reload,
    run,
    sim,
    state,
    status,
)
from daemon.errors import ConfigError, InputError, RebalancerError  # noqa: E402

COMMANDS = (run, check_config, plan, status, history, pnl, control, demo, sim, state,
            backtest, candles, rebalance_now, notify_test, reload)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rebalancer",
        description="Keeps a MEXC spot portfolio near its target mix.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "run":
        early_hangup.release()  # only the daemon reloads on SIGHUP
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RebalancerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    sys.exit(main())
