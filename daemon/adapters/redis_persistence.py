"""What a Redis server does to keep its data: read from ``INFO persistence`` and, where the
server allows it, ``CONFIG GET`` (managed Redis often disables or renames CONFIG; then the fsync
policy and the snapshot schedule are unknown and say so).

Only the append-only file (AOF) keeps every acknowledged write across a Redis restart; RDB
snapshots alone lose everything written since the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc


@dataclass(frozen=True, slots=True)
class Persistence:
    """``appendfsync`` and ``save`` are None when CONFIG GET was refused (``config_refused``
    says why); ``save`` is "" when RDB snapshots are off."""

    aof_enabled: bool
    rdb_changes_since_last_save: int
    appendfsync: str | None
    save: str | None
    config_refused: str | None = None

    def describe(self) -> str:
        """One line, e.g. "AOF on (appendfsync everysec), RDB snapshots off"."""
        if self.aof_enabled:
            aof = f"AOF on (appendfsync {self.appendfsync or 'unknown'})"
        else:
            aof = "AOF off"
        if self.save is None:
            rdb = f"RDB schedule unknown ({self.rdb_changes_since_last_save} change(s) since " \
                  f"the last snapshot)"
        elif self.save.strip():
            rdb = f"RDB snapshots 'save {self.save}' ({self.rdb_changes_since_last_save} " \
                  f"change(s) since the last one)"
        else:
            rdb = "RDB snapshots off"
        text = f"{aof}, {rdb}"
        if self.config_refused is not None:
            text += f"; CONFIG GET refused ({self.config_refused}): read from INFO persistence only"
        return text


def parse_persistence(info: Mapping[str, Any], config: Mapping[str, Any] | None,
                      config_refused: str | None = None) -> Persistence:
    """``info``: the parsed reply of INFO persistence; ``config``: CONFIG GET's mapping, None
    when it was refused (``config_refused``: the server's answer)."""

    def number(name: str) -> int:
        value = info.get(name, 0)
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0

    def text(name: str) -> str | None:
        if config is None:
            return None
        value = config.get(name)
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        return None if value is None else str(value)

    return Persistence(
        aof_enabled=number("aof_enabled") == 1,
        rdb_changes_since_last_save=number("rdb_changes_since_last_save"),
        appendfsync=text("appendfsync"), save=text("save"),
        config_refused=config_refused if config is None else None,
    )


async def read_persistence(client: aioredis.Redis) -> Persistence:
    """INFO persistence, then CONFIG GET appendfsync and save. A refused CONFIG (unknown or
    renamed command, NOPERM) is not an error; every other error propagates to the caller
    (RedisStore._call translates it)."""
    info = await client.info("persistence")
    config: dict[str, Any] = {}
    for name in ("appendfsync", "save"):  # one name per call: Redis < 7 takes one pattern
        try:
            reply = await client.config_get(name)
        except rexc.ResponseError as exc:
            return parse_persistence(info, None, str(exc))
        config.update({_str(k): v for k, v in reply.items()})
    return parse_persistence(info, config)


def _str(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
