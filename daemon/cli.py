"""Command line: ``rebalancer <command> ...``. The only place that exits the process.

Each subcommand lives in ``daemon/commands/<name>.py`` and exposes
``register(subparsers) -> None``; the parser it adds sets ``handler`` to a function
``(args) -> int`` returning the exit code (0 ok, 2 bad input/config, 1 runtime failure).

``entry`` (the ``rebalancer`` executable, ``python -m daemon``) adds what belongs to the process
rather than to one command: outside the long-running commands the Redis adapter's log records
are dropped (they are the daemon's account of its connection, "trading paused until it is
back"; a command says in one line itself that Redis is unavailable), and a stdout closed early
(``rebalancer status | head -1``) ends the command quietly with exit 141, what a shell reports
for a command ended by SIGPIPE: ``set -o pipefail`` scripts see the same as with any other Unix
tool, and the output was cut short, which an exit 0 would hide."""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

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

# long-running commands that keep every log record (run configures its own sinks)
SERVICE_COMMANDS = frozenset({"run", "sim", "demo"})
DAEMON_ONLY_LOGGERS = ("daemon.adapters.redis_store",)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command its pipe reader ended


def package_version() -> str:
    try:
        return metadata.version("mexc-rebalancer")
    except metadata.PackageNotFoundError:  # a source tree that was not installed
        from daemon import __version__
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rebalancer",
        description="Keeps a MEXC spot portfolio near its target mix.",
    )
    parser.add_argument("-V", "--version", action="version",
                        version=f"rebalancer {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv))


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; its errors become one line on stderr and an exit code."""
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
    try:
        try:
            code = _process(sys.argv[1:])
        finally:  # inside the try: a pipe closed early shows here at the latest
            sys.stdout.flush()
    except BrokenPipeError:
        if not _discard_closed_pipes():
            raise  # not our stdout or stderr: a real failure, shown as such
        code = EXIT_BROKEN_PIPE
    sys.exit(code)


def _process(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in SERVICE_COMMANDS:
        _quiet_daemon_logs()
    return dispatch(args)


def _quiet_daemon_logs() -> None:
    """loguru's default sink again, without the records meant for the daemon's log only."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, filter=lambda record: record["name"] not in DAEMON_ONLY_LOGGERS)


def _discard_closed_pipes() -> bool:
    """Point stdout/stderr whose reader has gone at /dev/null (so that the interpreter's last
    flush cannot fail again); False when neither had gone."""
    gone = False
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            continue
        poll = select.poll()
        poll.register(fd, 0)  # POLLERR is always reported: a pipe without a reader
        if any(ev & select.POLLERR for _, ev in poll.poll(0)):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            gone = True
    return gone
