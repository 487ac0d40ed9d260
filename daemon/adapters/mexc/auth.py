"""MEXC Spot v3 request signing (PROTOCOL.md section 1).

signature = lowercase hex HMAC-SHA256(secret, query_string + body), where the query string is
exactly the bytes sent (percent-encoding intact) without the ``signature`` pair."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def encode_params(params: list[tuple[str, str]]) -> str:
    """URL-encode in the given order, spaces as %20 and uppercase escapes, as real clients do."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)


def strip_signature(raw_query: str) -> tuple[str, str | None]:
    """Split a raw query string into (the signed part, the signature), keeping the received
    order and encoding of every other pair."""
    kept: list[str] = []
    signature: str | None = None
    for pair in raw_query.split("&") if raw_query else []:
        if pair.startswith("signature="):
            signature = pair[len("signature="):]
        else:
            kept.append(pair)
    return "&".join(kept), signature


def verify(secret: str, raw_query: str, raw_body: str = "") -> bool:
    """Server side: check the signature carried in the query string (or body)."""
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    signature = sig_q or sig_b
    if not signature:
        return False
    expected = sign(secret, query + body)
    return hmac.compare_digest(expected, signature)
