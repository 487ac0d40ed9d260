"""``rebalancer reload``: send SIGHUP to the running daemon and print whether it took the new
config: the outcome the daemon records in Redis (``P reload``, daemon/adapters/redis_reload.py).

The daemon is the instance named by the trading lease (``P lease``; the heartbeat's owner
when the lease has lapsed): its owner token is ``host:pid:random``. Refused, with one line
saying why and nothing signalled: no state under the key prefix (exit 2); no lease and no
heartbeat, a heartbeat of a daemon that stopped, a daemon on another host, a pid that is not
running or is no ``rebalancer run`` process (a recycled pid), a daemon this user may not
signal (exit 1).

Only the lease holder is signalled. A standby instance of the same portfolio is in Redis only
once it holds the lease, so it is not found here (and guessing from the process list could hit
another portfolio's daemon): reload it with ``systemctl reload rebalancer@NAME`` or
``kill -HUP PID``; its outcome is recorded too (``--last``).

The file given with ``-c`` only has to name the Redis and key prefix: a file the daemon will
reject is still sent, so that its own verdict (every error) is printed."""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import signal
import socket
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from daemon.adapters import redis_reload
from daemon.adapters.redis_lease import RedisLease
from daemon.adapters.redis_reload import Outcome, ReloadRecord
from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_config_arg, has_state, no_state, timeout_arg
from daemon.config import (
    RedisSettings,
    Settings,
    load_config,
    mask_url_password,
    parse_settings,
)
from daemon.config_yaml import MAX_CONFIG_BYTES, load_yaml
from daemon.errors import ConfigError, RebalancerError, StateError, StoreUnavailable

POLL_S = 0.1
EXIT_OK, EXIT_NOT_TAKEN = 0, 1


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "reload", help="make the running daemon re-read its config and say whether it took it",
        description="Send SIGHUP to the daemon trading under this config's Redis key prefix "
        "(found through its lease and heartbeat, on this host) and print the outcome it "
        "records: the keys applied, the keys that need a restart, or every error (it then "
        "keeps running on the old config). Exit 0 applied or nothing to apply, 1 rejected, no "
        "answer within --timeout or no daemon to signal, 2 bad arguments or no state.")
    add_config_arg(p)
    p.add_argument("--timeout", default="10", metavar="SECONDS",
                   help="how long to wait for the daemon's outcome (default 10)")
    p.add_argument("--json", action="store_true", help="print the outcome record as JSON")
    p.add_argument("--last", action="store_true",
                   help="print the last recorded outcome (of any reload) without signalling")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    timeout_s = timeout_arg(args.timeout)
    settings = _locating_settings(args.config)

    async def main() -> int:
        store = RedisStore(settings.redis.url, settings.key_prefix, socket_timeout_s=3.0)
        try:
            await store.connect()
            if args.last:
                return await _show_last(store, as_json=args.json)
            target = await find_daemon(store, settings)
            record = await signal_and_wait(store, target, timeout_s)
            return _show(record, as_json=args.json, given=args.config)
        except StoreUnavailable as exc:
            raise RebalancerError(f"Redis at {mask_url_password(settings.redis.url)} is "
                                  f"unavailable: {exc}") from None
        finally:
            await store.close()

    return asyncio.run(main())


def _locating_settings(path: str) -> Settings:
    """The config, or when the daemon will reject it, its ``symbol`` and ``redis`` sections
    alone (enough to find the daemon, which then reports every error). ConfigError (exit 2)
    when even those cannot be read."""
    try:
        return load_config(path)
    except ConfigError as exc:
        full = exc
    try:
        with open(path, "rb") as file:
            data = load_yaml(file.read(MAX_CONFIG_BYTES + 1), path)
        if not isinstance(data, dict):
            raise full
        located = parse_settings({"symbol": data["symbol"]} if "symbol" in data else {},
                                source=path)
        redis = RedisSettings.model_validate(data.get("redis") or {})
    except (ConfigError, OSError, ValidationError):
        raise full from None
    return located.model_copy(update={"redis": redis})


@dataclass(frozen=True, slots=True)
class Target:
    """The daemon to signal: its owner token, where it was found, its pid."""

    owner: str
    found_in: str  # the full key that named it
    pid: int


async def find_daemon(store: RedisStore, settings: Settings) -> Target:
    """The lease holder (else the heartbeat's owner) when it is a live ``rebalancer run``
    process of this host that this user may signal; else InputError (no state) or
    RebalancerError naming why, nothing signalled."""
    if not await has_state(store):
        raise no_state(store, settings, "; nothing to reload")
    beat = await store.get_heartbeat()
    lease = await RedisLease(store).holder()
    owner, key = (lease, store.key("lease")) if lease else (
        (beat or {}).get("owner"), store.key("heartbeat"))
    if not isinstance(owner, str) or not owner:
        raise RebalancerError(f"no live heartbeat or lease under {store.prefix!r}: the "
                              "daemon is not running (or not up yet); nothing signalled")
    if not lease and beat is not None and beat.get("state") == "stopped":
        raise RebalancerError(f"the daemon ({owner}) stopped at {_utc(beat['time_ms'])} and "
                              "none runs now; nothing signalled")
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if not pid_text.isdigit():
        raise StateError(f"{key}: not an owner token host:pid:random: {owner!r}")
    here = socket.gethostname()
    if host != here:
        raise RebalancerError(f"the daemon runs on host {host!r} (pid {pid_text}), this is "
                              f"{here!r}: a signal cannot reach it; run `rebalancer reload` "
                              f"on {host}")
    target = Target(owner, key, int(pid_text))
    _check_process(target)
    return target


def _check_process(target: Target) -> None:
    """Alive, a ``rebalancer run`` process (not a pid reused by another program), and
    ours to signal; RebalancerError naming which it is not."""
    pid = target.pid
    try:
        os.kill(pid, 0)
        allowed = True
    except ProcessLookupError:
        raise _dead(target) from None
    except PermissionError:
        allowed = False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        raise _dead(target) from None
    except OSError as exc:
        raise RebalancerError(f"cannot read /proc/{pid}/cmdline to check that pid {pid} is "
                              f"the daemon ({exc.strerror}); nothing signalled") from None
    if not is_daemon_cmdline([a.decode(errors="replace") for a in argv if a]):
        shown = " ".join(a.decode(errors="replace") for a in argv if a)
        raise RebalancerError(
            f"pid {pid}, named by {target.found_in}, is not a rebalancer daemon "
            f"({shown[:80]!r}): the daemon died and its pid was reused; nothing signalled")
    if not allowed:
        raise _denied(pid)


def is_daemon_cmdline(argv: list[str]) -> bool:
    """``.../rebalancer run ...`` or ``python -m daemon run ...``."""
    for i, arg in enumerate(argv):
        if os.path.basename(arg) == "rebalancer" or (arg == "-m" and argv[i + 1:i + 2] ==
                                                     ["daemon"]):
            rest = argv[i + (1 if arg != "-m" else 2):]
            return bool(rest) and rest[0] == "run"
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unit_of(pid: int) -> str | None:
    """The rebalancer service a process runs in (``rebalancer``, ``rebalancer@qrl``), from
    /proc/PID/cgroup; None when it runs outside one (by hand, under another service) or is
    gone."""
    try:
        return unit_in_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None


def unit_in_cgroup(text: str) -> str | None:
    """``rebalancer@qrl`` from a /proc/PID/cgroup text naming ``.../rebalancer@qrl.service``."""
    for line in text.splitlines():
        for part in reversed(line.rpartition(":")[2].split("/")):
            if part.endswith(".service") and part.startswith(("rebalancer.", "rebalancer@")):
                return part.removesuffix(".service")
    return None


def _log_hint(pid: int) -> str:
    unit = unit_of(pid)
    return (f"`journalctl -u {unit}`" if unit
            else "its log (`journalctl -u rebalancer`, or `-u rebalancer@NAME` for an instance)")


def _dead(target: Target) -> RebalancerError:
    return RebalancerError(
        f"pid {target.pid}, named by {target.found_in}, is not running: the daemon died "
        f"without removing it (it expires by itself; {_log_hint(target.pid)} says why); "
        "nothing signalled")


def _denied(pid: int) -> RebalancerError:
    try:
        user = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
    except (OSError, KeyError):
        user = "another user"
    return RebalancerError(
        f"permission denied: the daemon (pid {pid}) runs as {user}; run this as the service "
        f"user (sudo -u {user} rebalancer reload ...) or root")


async def signal_and_wait(store: RedisStore, target: Target, timeout_s: float) -> ReloadRecord:
    """SIGHUP, then the first outcome the daemon records for a reload asked for at or after
    the signal; RebalancerError when none comes within ``timeout_s``."""
    sent_ms = time.time_ns() // 1_000_000
    try:
        os.kill(target.pid, signal.SIGHUP)
    except ProcessLookupError:
        raise _dead(target) from None
    except PermissionError:
        raise _denied(target.pid) from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = await redis_reload.read_record(store, target.owner)
        if record is not None and record.reload.signal_ms >= sent_ms:
            return record
        if not _alive(target.pid):
            raise RebalancerError(f"the daemon (pid {target.pid}) ended before recording "
                                  f"the reload; {_log_hint(target.pid)} says why")
        await asyncio.sleep(POLL_S)
    raise RebalancerError(
        f"SIGHUP sent to the daemon (pid {target.pid}), but it recorded no outcome within "
        f"{timeout_s:g} s (still starting: it reloads once up; or Redis refused the record); "
        f"{_log_hint(target.pid)} shows what it did")


async def _show_last(store: RedisStore, *, as_json: bool) -> int:
    records = await redis_reload.read_records(store)
    if not records:
        raise RebalancerError(f"no reload recorded under {store.prefix!r}")
    return _show(records[0], as_json=as_json, given=None)


def _show(record: ReloadRecord, *, as_json: bool, given: str | None) -> int:
    r = record.reload
    if as_json:
        print(orjson.dumps(record.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"{r.outcome.value} by the daemon (pid {record.pid} on {record.host}) at "
              f"{_utc(r.at_ms)} from {r.config}")
        if r.outcome is Outcome.APPLIED:
            print(f"  applied: {', '.join(r.applied)}")
        elif r.outcome is Outcome.UNCHANGED:
            print("  no reloadable key changed")
        else:
            print("  the daemon kept running on the old config:")
            for error in r.errors:
                print(f"  {error}")
        if r.restart_only:
            unit = unit_of(record.pid)
            how = f"systemctl restart {unit}" if unit else "a restart of the daemon"
            print(f"warning: changed but taken only at a restart ({how}): "
                  f"{', '.join(r.restart_only)}")
    if given is not None and os.path.realpath(given) != os.path.realpath(r.config):
        print(f"warning: the daemon reads {r.config}, not {given}", file=sys.stderr)
    return EXIT_NOT_TAKEN if r.outcome is Outcome.REJECTED else EXIT_OK


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
