"""Scripted bad answers (``Faults.bad_replies``): the first N answers of one endpoint are a
truncated reply, a proxy's 502 HTML page, a 200 {"code","msg"} (before or after the request
took effect) or the real reply with one field lying (executedQty null or "-1", prices x100), as
a hostile or broken path to MEXC gives them."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from daemon.sim.config import BadReply, Faults

PROXY_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center>"
             b"<h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
             b"</html>\r\n")


BALANCE_LIES: dict[str, str | None] = {"balances_null": None, "balances_huge": "1e300",
                                       "balances_negative": "-5"}


def pick(faults: Faults, seen: Counter[str], method: str, path: str) -> BadReply | None:
    """The bad answer due now for ``method path``, if any (counts every answer)."""
    endpoint = f"{method} {path}"
    scripted = [b for b in faults.bad_replies if b.endpoint == endpoint]
    if not scripted:
        return None
    seen[endpoint] += 1
    for bad in scripted:
        if bad.first == 0 or seen[endpoint] <= bad.first:
            return bad
    return None


def before(bad: BadReply) -> web.Response | None:
    """The answer that replaces processing the request, or None (``truncated``: process it,
    then :func:`after`)."""
    if bad.kind == "html502":
        return web.Response(body=PROXY_502, status=502, content_type="text/html")
    if bad.kind == "code":
        return web.Response(body=orjson.dumps({"code": bad.code, "msg": bad.msg}), status=200,
                            content_type="application/json")
    return None


def after(bad: BadReply, good: web.Response) -> web.Response:
    """The real answer (the request took effect) spoilt as ``bad.kind`` says."""
    body = good.body if isinstance(good.body, bytes) else b""
    if bad.kind == "truncated":  # at least one byte gone, one kept: ``[]`` becomes ``[``
        spoilt = body[:max(1, len(body) // 2 - 1)]
    elif bad.kind == "code_after":
        spoilt = orjson.dumps({"code": bad.code, "msg": bad.msg})
    else:
        spoilt = orjson.dumps(_lie(bad.kind, orjson.loads(body)))
    return web.Response(body=spoilt, status=200, content_type="application/json")


def _lie(kind: str, payload: Any) -> Any:
    """Every object of the reply (one, or the rows of an array) with its field lying."""
    if kind in BALANCE_LIES or kind == "balances_x1000":  # GET /api/v3/account: every free
        for row in payload.get("balances", []):
            row["free"] = (str(Decimal(str(row["free"])) * 1000) if kind == "balances_x1000"
                           else BALANCE_LIES[kind])
        return payload
    rows = payload if isinstance(payload, list) else [payload]
    for row in rows:
        if not isinstance(row, dict):
            continue
        if kind == "executed_null":
            row["executedQty"] = None
        elif kind == "executed_negative":
            row["executedQty"] = "-1"
        elif kind in ("price_x100", "price_quote_x100") and "price" in row:
            row["price"] = str(Decimal(str(row["price"])) * 100)
            if kind == "price_quote_x100" and "quoteQty" in row:
                row["quoteQty"] = str(Decimal(str(row["quoteQty"])) * 100)
    return payload
