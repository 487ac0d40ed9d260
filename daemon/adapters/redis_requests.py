"""Operator requests to the running daemon through Redis (``rebalancer rebalance-now``).

Keys (``P`` = the key prefix; neither is part of the books)::

    P manual_requests   list: {"id": hex, "reason": text, "time_ms": ms}, the CLI RPUSHes,
                        the trading daemon BLPOPs (one request, one evaluation)
    P manual_replies    hash id -> {"taken_ms": ms} once taken, then
                        {"taken_ms", "plan": the plan record} or {"taken_ms", "note": why no
                        plan}; the CLI deletes its field once read (or given up on)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from daemon.adapters.redis_records import as_text, decode_json, encode_json, json_object
from daemon.adapters.redis_store import RedisStore
from daemon.errors import StateError

REQUESTS = "manual_requests"
REPLIES = "manual_replies"
_ID = re.compile(r"[0-9a-f]{16}")
MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class ManualRequest:
    id: str
    reason: str
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "time_ms": self.time_ms}


def parse_request(raw: object, where: str) -> ManualRequest:
    """StateError naming ``where`` and the field for anything but a request the CLI writes."""
    data = json_object(decode_json(raw, where), where)
    rid, reason, time_ms = data.get("id"), data.get("reason"), data.get("time_ms")
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        raise StateError(f"{where}: id: expected 16 hex digits, got {rid!r}")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise StateError(f"{where}: reason: expected text of at most {MAX_REASON} "
                         f"characters, got {reason!r:.80}")
    if not isinstance(time_ms, int) or isinstance(time_ms, bool) or time_ms < 0:
        raise StateError(f"{where}: time_ms: expected a time in ms, got {time_ms!r}")
    return ManualRequest(rid, reason, time_ms)


async def push_request(store: RedisStore, request: ManualRequest) -> str:
    """Queue ``request``; returns its stored form (what :func:`withdraw` removes)."""
    body = encode_json(request.to_dict(), "manual request")
    k = store.key(REQUESTS)
    await store.call("RPUSH manual_requests", store.client.rpush(k, body), keys={k: "list"})
    return body


async def take_request(store: RedisStore, timeout_s: float) -> ManualRequest | None:
    """The oldest queued request (waiting up to ``timeout_s``), or None."""
    k = store.key(REQUESTS)
    got = await store.call("BLPOP manual_requests", store.client.blpop([k], timeout_s),
                            keys={k: "list"})
    if got is None:
        return None
    return parse_request(got[1], k)


async def withdraw(store: RedisStore, body: str) -> bool:
    """Remove a request still queued; False when a daemon took it meanwhile."""
    k = store.key(REQUESTS)
    removed = await store.call("LREM manual_requests", store.client.lrem(k, 1, body),
                                keys={k: "list"})
    return int(removed) > 0


async def write_reply(store: RedisStore, request_id: str, reply: dict[str, Any]) -> None:
    k = store.key(REPLIES)
    await store.call("HSET manual_replies", store.client.hset(
        k, request_id, encode_json(reply, "manual reply")), keys={k: "hash"})


async def read_reply(store: RedisStore, request_id: str, *,
                     remove: bool = False) -> dict[str, Any] | None:
    k = store.key(REPLIES)
    raw = await store.call("HGET manual_replies", store.client.hget(k, request_id),
                            keys={k: "hash"})
    if remove:
        await store.call("HDEL manual_replies", store.client.hdel(k, request_id),
                          keys={k: "hash"})
    if raw is None:
        return None
    return json_object(decode_json(raw, f"{k}[{as_text(request_id)}]"), k)
