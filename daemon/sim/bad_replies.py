"""Scripted bad answers (``Faults.bad_replies``): the first N answers of one endpoint are a
truncated reply, a proxy's 502 HTML page or a 200 {"code","msg"}, as a hostile or broken path
to MEXC gives them."""

from __future__ import annotations

from collections import Counter

import orjson
from aiohttp import web

from daemon.sim.config import BadReply, Faults

PROXY_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center>"
             b"<h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
             b"</html>\r\n")


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


def after(good: web.Response) -> web.Response:
    """The real answer cut in half (at least one byte gone, one kept: ``[]`` becomes
    ``[``)."""
    body = good.body if isinstance(good.body, bytes) else b""
    return web.Response(body=body[:max(1, len(body) // 2 - 1)], status=200,
                        content_type="application/json")
