"""The startup check of how Redis keeps the books (README: Production Redis).

Only an append-only file (AOF) keeps every acknowledged write across a Redis restart: without
it a restart or a crash of Redis loses every order, fill and cost basis written since the last
RDB snapshot (or all of them), and the daemon would trade on as if nothing happened. So
``mode: live`` refuses a Redis without AOF unless ``redis.allow_volatile: true`` says the
operator accepts that; ``dry_run`` (nothing is sent) only warns. Each finding is logged once.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from daemon.adapters.redis_persistence import Persistence
from daemon.adapters.redis_store import RedisStore
from daemon.config import Mode, Settings, mask_url_password
from daemon.errors import ConfigError

_FSYNC = {
    "everysec": "a power cut or kernel crash can lose about the last second of writes",
    "always": "every write is on disk before Redis answers (nothing acknowledged is lost; "
              "slower writes)",
    "no": "the kernel flushes when it likes (about every 30 s on Linux): a power cut or "
          "kernel crash can lose that much; appendfsync everysec is the usual choice",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """``refusal``: the error message when the daemon must not run; else the lines to log."""

    refusal: str | None
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def judge(found: Persistence, mode: Mode, allow_volatile: bool, where: str) -> Verdict:
    """What to do with the persistence ``found`` on the Redis at ``where`` (pure)."""
    seen = f"Redis {where}: {found.describe()}"
    if not found.aof_enabled:
        risk = ("without an append-only file a crash of Redis or of the machine loses every "
                "order, fill and cost basis written since the last RDB snapshot (all of them "
                "when snapshots are off)")
        if mode is Mode.LIVE and not allow_volatile:
            return Verdict(
                f"{seen}. mode: live refuses it: {risk}. Either enable AOF on the Redis server "
                f"(appendonly yes, appendfsync everysec; README: Production Redis) or set "
                f"redis.allow_volatile: true to accept the risk", (), ())
        why = ("redis.allow_volatile: true, running live anyway" if mode is Mode.LIVE
               else "mode: live would refuse it unless redis.allow_volatile: true")
        return Verdict(None, (f"{seen}: {risk} ({why})",), ())
    if found.appendfsync is None:
        return Verdict(None, (), (f"{seen}; the fsync policy is unknown",))
    meaning = _FSYNC.get(found.appendfsync, "an fsync policy this daemon does not know")
    line = f"{seen}: {meaning}"
    if found.appendfsync == "no":
        return Verdict(None, (line,), ())
    return Verdict(None, (), (line,))


async def check_persistence(store: RedisStore, settings: Settings) -> Persistence:
    """Read the server's persistence, log what it means once; ConfigError when ``mode: live``
    must not run on it. Called at startup, before anything is written or sent."""
    found = await store.persistence()
    verdict = judge(found, settings.mode, settings.redis.allow_volatile,
                    mask_url_password(store.url))
    if verdict.refusal is not None:
        raise ConfigError(verdict.refusal)
    for line in verdict.warnings:
        logger.warning(line)
    for line in verdict.notes:
        logger.info(line)
    return found
