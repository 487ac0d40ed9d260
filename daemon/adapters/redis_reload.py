"""The outcome of each config reload (SIGHUP, ``systemctl reload``, ``rebalancer reload``),
recorded by the daemon so that a command can say whether the new config was taken.

Key (``P`` = the key prefix; not part of the books)::

    P reload   hash: instance owner token (``host:pid:random``, as in ``P lease``) -> the
               outcome of that instance's last reload: {"seq": n (its reloads, from 1),
               "signal_ms": when the reload was asked for (the SIGHUP arrived), "at_ms": when
               it was decided, "host", "pid", "owner", "config": the file read,
               "outcome": "applied"|"unchanged"|"rejected", "applied": [keys],
               "restart_only": [keys changed but not applied], "errors": [lines]}
               at most MAX_INSTANCES fields: the oldest are dropped
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from daemon.adapters.redis_records import RECORDS, as_text, decode_json, encode_json
from daemon.adapters.redis_store import RedisStore
from daemon.errors import StateError

RELOAD = "reload"
MAX_INSTANCES = 16  # daemons (each start is a new owner token) whose last outcome is kept


class Outcome(StrEnum):
    APPLIED = "applied"  # reloadable keys changed and are in force
    UNCHANGED = "unchanged"  # valid, but no reloadable key changed
    REJECTED = "rejected"  # invalid or not applicable: still running on the old config


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did (restart-only keys are listed whatever the outcome)."""

    outcome: Outcome
    signal_ms: int
    at_ms: int
    seq: int
    config: str
    applied: tuple[str, ...] = ()
    restart_only: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReloadRecord:
    """A stored outcome and the instance that recorded it."""

    owner: str
    host: str
    pid: int
    reload: ReloadOutcome

    def to_dict(self) -> dict[str, Any]:
        r = self.reload
        return {"owner": self.owner, "host": self.host, "pid": self.pid, "seq": r.seq,
                "signal_ms": r.signal_ms, "at_ms": r.at_ms, "config": r.config,
                "outcome": r.outcome.value, "applied": list(r.applied),
                "restart_only": list(r.restart_only), "errors": list(r.errors)}


def parse_record(raw: object, where: str) -> ReloadRecord:
    """StateError naming ``where`` and the field for anything but a record the daemon wrote."""
    r = RECORDS.fields(decode_json(raw, where), where)

    def texts(name: str) -> tuple[str, ...]:
        items = r.array(name)
        if not all(isinstance(x, str) for x in items):
            raise StateError(f"{where}: field '{name}' must list text, got {items!r:.80}")
        return tuple(items)

    outcome = ReloadOutcome(
        outcome=r.enum("outcome", Outcome), signal_ms=r.integer("signal_ms", minimum=0),
        at_ms=r.integer("at_ms", minimum=0), seq=r.integer("seq", minimum=0),
        config=r.text("config"), applied=texts("applied"),
        restart_only=texts("restart_only"), errors=texts("errors"))
    return ReloadRecord(r.text("owner"), r.text("host"), r.integer("pid", minimum=0), outcome)


async def write_record(store: RedisStore, record: ReloadRecord) -> None:
    """Store ``record`` under its owner (replacing that instance's previous one), then drop
    the oldest instances' records beyond MAX_INSTANCES."""
    k = store.key(RELOAD)
    body = encode_json(record.to_dict(), "reload outcome")
    await store.call("HSET reload", store.client.hset(k, record.owner, body),
                      keys={k: "hash"})
    if int(await store.call("HLEN reload", store.client.hlen(k), keys={k: "hash"})) \
            <= MAX_INSTANCES:
        return
    stored = await _all_raw(store)
    oldest = sorted(stored, key=lambda owner: _at_ms(stored[owner]))
    await store.call("HDEL reload", store.client.hdel(k, *oldest[:-MAX_INSTANCES]),
                      keys={k: "hash"})


async def read_record(store: RedisStore, owner: str) -> ReloadRecord | None:
    k = store.key(RELOAD)
    raw = await store.call("HGET reload", store.client.hget(k, owner), keys={k: "hash"})
    return None if raw is None else parse_record(raw, f"{k}[{owner}]")


async def read_records(store: RedisStore) -> list[ReloadRecord]:
    """Every instance's last outcome, newest first."""
    k = store.key(RELOAD)
    records = [parse_record(raw, f"{k}[{owner}]") for owner, raw in
               (await _all_raw(store)).items()]
    return sorted(records, key=lambda rec: rec.reload.at_ms, reverse=True)


async def _all_raw(store: RedisStore) -> dict[str, object]:
    k = store.key(RELOAD)
    raw = await store.call("HGETALL reload", store.client.hgetall(k), keys={k: "hash"})
    return {as_text(owner) or "": body for owner, body in raw.items()}


def _at_ms(raw: object) -> int:
    """For dropping the oldest: a record that cannot be read counts as the oldest."""
    try:
        return parse_record(raw, RELOAD).reload.at_ms
    except StateError:
        return -1
