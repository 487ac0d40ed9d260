"""Arguments shared by subcommands."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from daemon.adapters.redis_store import RedisStore
from daemon.config import Settings, load_config
from daemon.errors import RebalancerError, StoreUnavailable


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", default="config.yaml", metavar="FILE",
        help="path to config.yaml (default: ./config.yaml)",
    )


def with_store(args: argparse.Namespace,
               body: Callable[[RedisStore, Settings], Awaitable[int]]) -> int:
    """Load ``args.config``, connect to its Redis and run ``body``; Redis unavailable is one
    clear error (exit 1)."""
    settings = load_config(args.config)

    async def main() -> int:
        store = RedisStore(settings.redis.url, settings.key_prefix, socket_timeout_s=3.0)
        try:
            await store.connect()
            return await body(store, settings)
        except StoreUnavailable as exc:
            raise RebalancerError(f"Redis at {settings.redis.url} is unavailable: {exc}") \
                from None
        finally:
            await store.close()

    return asyncio.run(main())
