"""Deterministic client order ids: ``{prefix}-{cycle_id}-{attempt}``.

The same decision cycle and attempt always give the same ``newClientOrderId``, so a daemon that
crashes after writing an intent and restarts in the same cycle finds that intent in Redis and
queries the venue by the id instead of sending a second order. MEXC publishes no charset/length;
the safe rule (PROTOCOL.md 2.2.1) is at most 32 characters of ``[A-Za-z0-9_-]``.

- ``prefix``: 1..8 of ``[A-Za-z0-9]`` (ExecutionSettings.client_order_prefix), marks our orders.
- ``cycle_id``: 1..18 of ``[A-Za-z0-9]``; the daemon gives each evaluation its own
  (``evaluation_cycle_id``: base 36 of epoch milliseconds, 8 characters, e.g. ``rb-mip0b2kg-0``
  is 13); ``cycle_id_for(slot_start_ms)`` derives one from the start of a schedule slot (base 36
  of epoch seconds, 6 characters until the year 2038+).
- ``attempt``: 0..999, a new order in the same cycle (after a cancel or reject) takes the next one.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from daemon.errors import InputError

MAX_LEN = 32
MAX_ATTEMPT = 999
_PREFIX_RE = re.compile(r"[A-Za-z0-9]{1,8}")
_CYCLE_RE = re.compile(r"[A-Za-z0-9]{1,18}")
_ID_RE = re.compile(r"([A-Za-z0-9]{1,8})-([A-Za-z0-9]{1,18})-(0|[1-9][0-9]{0,2})")
_ALLOWED_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class ClientOrderId:
    prefix: str
    cycle_id: str
    attempt: int

    def __str__(self) -> str:
        return f"{self.prefix}-{self.cycle_id}-{self.attempt}"


def _base36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


def cycle_id_for(slot_start_ms: int) -> str:
    """The cycle id of the schedule slot starting at ``slot_start_ms`` (epoch ms, >= 0):
    base 36 of the whole seconds, e.g. 1_763_700_000_000 -> 't627mo'."""
    if isinstance(slot_start_ms, bool) or not isinstance(slot_start_ms, int) or slot_start_ms < 0:
        raise InputError(f"slot_start_ms: expected epoch milliseconds >= 0, got {slot_start_ms!r}")
    return _base36(slot_start_ms // 1000)


def evaluation_cycle_id(time_ms: int) -> str:
    """The cycle id of ONE evaluation started at ``time_ms`` (epoch ms, >= 0): base 36 of the
    milliseconds (8 characters until the year 2059), so two evaluations in the same second
    have their own ids (the caller gives each a later millisecond than the last)."""
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms < 0:
        raise InputError(f"time_ms: expected epoch milliseconds >= 0, got {time_ms!r}")
    return _base36(time_ms)


def make_client_order_id(prefix: str, cycle_id: str, attempt: int) -> str:
    """``{prefix}-{cycle_id}-{attempt}``; InputError naming the part that is invalid."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise InputError(f"client order id prefix: expected 1-8 of [A-Za-z0-9], got {prefix!r}")
    if not isinstance(cycle_id, str) or not _CYCLE_RE.fullmatch(cycle_id):
        raise InputError(
            f"client order id cycle_id: expected 1-18 of [A-Za-z0-9], got {cycle_id!r}")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 0 <= attempt <= MAX_ATTEMPT:
        raise InputError(f"client order id attempt: expected 0..{MAX_ATTEMPT}, got {attempt!r}")
    text = f"{prefix}-{cycle_id}-{attempt}"
    assert len(text) <= MAX_LEN  # 8 + 1 + 18 + 1 + 3 = 31
    return text


def parse_client_order_id(text: str) -> ClientOrderId:
    """Inverse of make_client_order_id; InputError when ``text`` is not of that form."""
    m = _ID_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise InputError(
            f"client order id {text!r}: expected '<prefix>-<cycle_id>-<attempt>' "
            "(prefix 1-8 and cycle_id 1-18 of [A-Za-z0-9], attempt 0..999)"
        )
    return ClientOrderId(m.group(1), m.group(2), int(m.group(3)))


def is_ours(client_order_id: str | None, prefix: str) -> bool:
    """True when ``client_order_id`` is one of ours (well-formed and carrying ``prefix``)."""
    if not client_order_id:
        return False
    m = _ID_RE.fullmatch(client_order_id)
    return m is not None and m.group(1) == prefix


def is_valid_for_venue(client_order_id: str) -> bool:
    """The venue-side safety rule: 1..32 characters of [A-Za-z0-9_-]."""
    return bool(_ALLOWED_RE.fullmatch(client_order_id))
