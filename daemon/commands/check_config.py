"""``rebalancer check-config``: validate config.yaml and print the effective config.

Everything ``run`` refuses at start is refused here too, every problem in one report: each bad
key, each rule between keys (``daemon.config_rules``), a ``log.file`` that cannot be written,
the API keys when they can be found, and the ``${NAME}`` secrets of ``notify.urls``.

The keys: under systemd they exist only as ``LoadCredential=`` files, which the daemon reads
from ``$CREDENTIALS_DIRECTORY``. Without them in the environment, ``check-config`` says they
were not checked (exit 0: everything else is); ``--credentials-dir DIR`` checks the files in
DIR as the daemon would read them (present, not empty, of a plausible form, not readable by
other users). The secrets themselves are never printed. ``--online`` also asks the exchange
(``daemon.commands.check_online``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from loguru import logger
from pydantic import ValidationError

from daemon.commands.check_online import check_online
from daemon.commands.common import add_config_arg
from daemon.config import (
    SECRET_REF,
    Credentials,
    LogSettings,
    Mode,
    NotifySettings,
    Settings,
    effective_config,
    load_config,
    load_credentials,
    read_secret,
)
from daemon.config_yaml import MAX_CONFIG_BYTES, load_yaml_lines
from daemon.errors import ConfigError, NotifierGone
from daemon.runtime.alerts import Alerts

KEY_NAMES = ("MEXC_API_KEY", "MEXC_API_SECRET")
_PLAUSIBLE = re.compile(r"[!-~]{8,256}")  # printable ASCII, no blank: a header / HMAC key
NOT_CHECKED = ("keys: not checked (no MEXC_API_KEY/MEXC_API_SECRET in the environment or a "
               "credentials directory; pass --credentials-dir DIR to check them)")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config",
        help="validate config.yaml and print the effective config (secrets masked)",
        description="Validate the config and print it as it will run, secrets masked; every "
        "problem is listed at once. The API keys are checked when they are in the environment, "
        "in $CREDENTIALS_DIRECTORY, or in --credentials-dir; otherwise the output says they "
        "were not checked. Exit 0 when valid, 2 when not.",
    )
    add_config_arg(p)
    p.add_argument(
        "--credentials-dir", metavar="DIR", default=None,
        help="check the key files MEXC_API_KEY and MEXC_API_SECRET in DIR, as the daemon reads "
        "them from $CREDENTIALS_DIRECTORY under systemd (e.g. /etc/rebalancer/credentials; "
        "run with sudo when DIR is root's)",
    )
    p.add_argument(
        "--online", action="store_true",
        help="also ask the exchange (exchange.rest_url) what the daemon asks at start: the "
        "symbol and its rules, and whether it accepts the keys; nothing is ordered",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        if not exc.problems or exc.problems == [str(exc)]:
            raise  # the file itself (missing, not YAML): nothing more to check
        problems.extend(exc.problems)
    env = _secret_env(args.credentials_dir)
    creds, keys_line = _check_keys(env, args.credentials_dir, settings, problems)
    lines = [keys_line]
    log, notify = (settings.log, settings.notify) if settings is not None \
        else _sections_that_parse(args.config)
    if notify is not None:
        lines += _check_notify_secrets(notify, env, problems)
    if log is not None:
        problems.extend(_log_file_problems(log))
    if settings is not None and args.online:
        lines += check_online(settings, creds, problems)
    if problems:
        raise ConfigError(f"{args.config}: {len(problems)} problem(s)", problems)
    assert settings is not None
    print(yaml.safe_dump(effective_config(settings, creds), sort_keys=False), end="")
    print("\n".join(lines))
    print(f"# {args.config}: valid", flush=True)
    return 0


def _sections_that_parse(path: str) -> tuple[LogSettings | None, NotifySettings | None]:
    """``log`` and ``notify`` of a file whose other keys are bad, each when it is valid on
    its own: their checks (the log file, the notification secrets) join the same report."""
    data, _lines = load_yaml_lines(Path(path).read_bytes()[:MAX_CONFIG_BYTES], path)
    out: list[Any] = []
    for name, model in (("log", LogSettings), ("notify", NotifySettings)):
        try:
            section = data.get(name) if isinstance(data, dict) else None
            out.append(model.model_validate(section or {}))
        except ValidationError:
            out.append(None)  # its problems are in the report already
    return out[0], out[1]


def _secret_env(credentials_dir: str | None) -> dict[str, str]:
    """Where the daemon would read its secrets: the environment, and with ``--credentials-dir``
    the files in DIR (in place of $CREDENTIALS_DIRECTORY, the keys never from the environment:
    under systemd they are not there)."""
    env = dict(os.environ)
    if credentials_dir is None:
        return env
    _require_readable_dir(Path(credentials_dir))
    for name in KEY_NAMES:
        env.pop(name, None)
    env["CREDENTIALS_DIRECTORY"] = credentials_dir
    return env


def _require_readable_dir(path: Path) -> None:
    where = f"--credentials-dir {path}"
    if not path.exists():
        raise ConfigError(f"{where}: no such directory")
    if not path.is_dir():
        raise ConfigError(f"{where}: not a directory")
    try:
        os.listdir(path)
    except PermissionError:
        raise ConfigError(f"{where}: permission denied for user {_user()} (the credentials "
                          "directory is root's: run check-config with sudo)") from None


def _check_keys(env: Mapping[str, str], credentials_dir: str | None, settings: Settings | None,
                problems: list[str]) -> tuple[Credentials | None, str]:
    """The keys (None when not found) and the line that says what was checked."""
    try:
        creds = load_credentials(env)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None, "keys: not valid"
    if credentials_dir is not None:
        where = f"in {credentials_dir}"
        if creds is None and settings is not None and settings.mode is Mode.DRY_RUN:
            return None, f"keys: none {where} (mode dry_run does not need them)"
        if creds is None:
            problems.append(f"credentials: neither MEXC_API_KEY nor MEXC_API_SECRET is a "
                            f"non-empty file in {credentials_dir}")
            return None, "keys: missing"
        problems.extend(_key_file_problems(Path(credentials_dir)))
    elif creds is None:
        live = settings is None or settings.mode is Mode.LIVE
        return None, NOT_CHECKED if live else "keys: none (mode dry_run does not need them)"
    else:
        where = ("in the environment" if env.get("MEXC_API_KEY") else
                 f"in $CREDENTIALS_DIRECTORY ({env.get('CREDENTIALS_DIRECTORY')})")
    problems.extend(_key_form_problems(creds))
    return creds, f"keys: found {where}"


def _key_form_problems(creds: Credentials) -> list[str]:
    key, secret = creds.api_key.get_secret_value(), creds.api_secret.get_secret_value()
    out = [f"credentials: {name} does not look like a MEXC key (8 to 256 printable characters, "
           "no spaces or line breaks inside)"
           for name, value in zip(KEY_NAMES, (key, secret), strict=True)
           if not _PLAUSIBLE.fullmatch(value)]
    if key == secret:
        out.append("credentials: MEXC_API_KEY and MEXC_API_SECRET are the same value")
    return out


def _key_file_problems(directory: Path) -> list[str]:
    out = []
    for path in (directory / n for name in KEY_NAMES for n in (name, name.lower())):
        try:  # both names: the loader reads the lower-case one when the other is missing
            mode = path.stat().st_mode
        except OSError:
            continue  # reported missing by the loader
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            out.append(f"credentials: {path} is readable or writable by every user (mode "
                       f"{stat.S_IMODE(mode):04o}): chmod 0600 it")
    return out


def _check_notify_secrets(notify: NotifySettings, env: Mapping[str, str],
                          problems: list[str]) -> list[str]:
    """``${NAME}`` in notify.urls that the daemon could not resolve at start: a problem when
    a credentials directory was given (or is set), else a line saying they were not checked."""
    missing = [(i, name) for i, url in enumerate(notify.urls)
               for name in re.findall(SECRET_REF, url) if read_secret(name, env) is None]
    if not missing:
        return _open_notify_urls(notify, env, problems)
    if not env.get("CREDENTIALS_DIRECTORY"):
        names = ", ".join(sorted({name for _, name in missing}))
        return [f"notify secrets: not checked ({names} not in the environment; pass "
                "--credentials-dir DIR to check them)"]
    problems.extend(f"notify.urls[{i}]: ${{{name}}} is neither set in the environment nor a "
                    f"file in {env['CREDENTIALS_DIRECTORY']}" for i, name in missing)
    return []


def _open_notify_urls(notify: NotifySettings, env: Mapping[str, str],
                      problems: list[str]) -> list[str]:
    """The URLs handed to Apprise as the daemon does at start (no message is sent)."""
    if not notify.urls:
        return []

    async def main() -> None:
        alerts = Alerts(notify, env, log_level="WARNING")
        try:
            await alerts.open()
        finally:
            await alerts.close()

    logger.remove()  # Alerts logs the URLs it opened; the line below says it for this command
    try:
        asyncio.run(main())
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    except NotifierGone as exc:
        problems.append(f"notify.urls: {exc}")
        return []
    return [f"notify: {len(notify.urls)} URL(s) understood, secrets found"]


def _log_file_problems(log: LogSettings) -> list[str]:
    """A ``log.file`` the daemon could not open, as far as this user can tell: a directory,
    under a file, or not writable (the file opened for appending, which changes nothing; else
    a temporary file made and removed in its deepest existing folder)."""
    if not log.file:
        return []
    path = Path(log.file)
    if path.is_dir():
        return [f"log.file: {path} is a directory"]
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [f"log.file: {parent} is not a directory"]
    where = "opening it" if path.exists() else f"making a file in {parent}"
    try:
        if path.exists():
            with path.open("a"):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=parent, prefix=".check-config-"):
                pass
    except OSError as exc:
        return [f"log.file: cannot write {path} ({exc.strerror or exc} {where}, as user "
                f"{_user()})"]
    return []


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())
