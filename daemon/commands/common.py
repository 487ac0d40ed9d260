"""Arguments and checks shared by subcommands."""

from __future__ import annotations

import argparse
import asyncio
import unicodedata
from collections.abc import Awaitable, Callable

from daemon.adapters.redis_store import RedisStore
from daemon.config import Settings, load_config, mask_url_password
from daemon.errors import InputError, RebalancerError, StoreUnavailable

MAX_TEXT = 200  # an operator's reason: one line in a log, a notification, `status`
# control characters (newlines, escapes), format controls (bidi overrides), undecodable bytes
# (lone surrogates from a non-UTF-8 argument) and line/paragraph separators
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", default="config.yaml", metavar="FILE",
        help="path to config.yaml (default: ./config.yaml)",
    )


def add_asset_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--asset", metavar="ASSET",
        help="a portfolio's asset whose books are read (default: the first of "
        "portfolio.targets)")


def operator_text(raw: str, flag: str, *, limit: int = MAX_TEXT) -> str:
    """An operator's free text (a reason) as stored: one printable line of 1..``limit``
    characters, surrounding spaces removed; InputError naming ``flag`` otherwise."""
    text = raw.strip()
    if not text:
        raise InputError(f"{flag}: must not be empty")
    if len(text) > limit:
        raise InputError(f"{flag}: at most {limit} characters, got {len(text)}")
    for i, char in enumerate(text):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InputError(f"{flag}: one line of printable text, got {char!r} at "
                             f"position {i + 1}")
    return text


def timeout_arg(text: str) -> float:
    """A ``--timeout SECONDS`` value: a number within (0, 3600]; InputError (exit 2) else."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--timeout: expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise InputError(f"--timeout: must be within (0, 3600] seconds, got {text}")
    return value


def redis_shown(settings: Settings) -> str:
    """The Redis URL as messages show it (a password masked)."""
    return mask_url_password(settings.redis.url)


async def has_state(store: RedisStore) -> bool:
    """Whether a daemon wrote its books under the key prefix (the ``schema`` key) or runs
    there now (its lease or heartbeat: after Redis lost the books, the daemon still runs and
    waits for ``state rebuild``, and halt, status and reload must still reach it)."""
    schema, _epoch, _version = await store.books_marker()
    if schema is not None:
        return True
    return await store.present("lease", "heartbeat") > 0


def no_state(store: RedisStore, settings: Settings, hint: str = "") -> InputError:
    """The one-line refusal of a command that needs a daemon's state (exit 2)."""
    return InputError(
        f"no state under key prefix {store.prefix!r} in Redis at {redis_shown(settings)}: no "
        f"daemon has run with this config's redis.url and key prefix (wrong -c FILE?){hint}")


async def require_state(store: RedisStore, settings: Settings, hint: str = "") -> None:
    if not await has_state(store):
        raise no_state(store, settings, hint)


def command_store(settings: Settings, asset: str | None = None) -> RedisStore:
    """The store a command reads and writes: the single pair's (and a one-asset
    portfolio's) prefix; for a portfolio of several assets, ``asset``'s pair books (default:
    the first listed) with the process's keys (lease, heartbeat, halt, plans, requests)
    under the portfolio's prefix, as the daemon keeps them."""
    p = settings.portfolio
    if p is None and asset is not None:
        raise InputError("--asset: only for a portfolio (portfolio.targets); this config "
                         f"trades the single pair {settings.symbol}")
    pairs = {} if p is None else p.pairs()
    chosen = (asset or next(iter(pairs), "")).upper()
    if p is not None and chosen not in pairs:
        raise InputError(f"--asset: {asset} is not in portfolio.targets ({', '.join(pairs)})")
    if p is None or len(pairs) == 1:
        return RedisStore(settings.redis.url, settings.key_prefix, socket_timeout_s=3.0)
    return RedisStore(settings.redis.url, f"bot:{pairs[chosen]}:", socket_timeout_s=3.0,
                      process_prefix=settings.key_prefix)


def subject(settings: Settings) -> str:
    """What a command's message names: the pair, or the portfolio's assets."""
    p = settings.portfolio
    if p is None:
        return settings.symbol
    if len(p.targets) == 1:
        return next(iter(p.pairs().values()))
    return f"the portfolio ({', '.join(p.targets)} against {p.quote})"


def with_store(args: argparse.Namespace,
               body: Callable[[RedisStore, Settings], Awaitable[int]]) -> int:
    """Load ``args.config``, connect to its Redis and run ``body``; Redis unavailable is one
    clear error (exit 1)."""
    settings = load_config(args.config)

    async def main() -> int:
        store = command_store(settings, getattr(args, "asset", None))
        try:
            await store.connect()
            return await body(store, settings)
        except StoreUnavailable as exc:
            raise RebalancerError(f"Redis at {redis_shown(settings)} is unavailable: {exc}") \
                from None
        finally:
            await store.close()

    return asyncio.run(main())
