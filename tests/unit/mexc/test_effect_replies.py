"""Which error answers to an order or cancel say it took no effect (issue 12, part 2): only an
HTTP 4xx with a code MEXC documents for a refusal (and the rate limiter's 418/429). A 200
{"code","msg"}, a 5xx, an unknown code leave the outcome unknown, never "rejected"."""

from __future__ import annotations

import orjson
import pytest

from daemon.adapters.mexc.rest import CANCEL_ORDER, GET_ORDER, NEW_ORDER, Endpoint, MexcRest
from daemon.config import ExchangeSettings
from daemon.errors import (
    AuthError,
    ExchangeError,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
)


def decoded(ep: Endpoint, status: int, code: int, msg: str = "x") -> ExchangeError:
    rest = MexcRest(ExchangeSettings(), None)
    with pytest.raises(ExchangeError) as info:
        rest._decode(ep, status, orjson.dumps({"code": code, "msg": msg}), None)
    return info.value


@pytest.mark.parametrize(("ep", "status", "code", "kind"), [
    (NEW_ORDER, 400, 30005, OrderRejected),  # clearly refused
    (NEW_ORDER, 400, 10101, OrderRejected),
    (NEW_ORDER, 400, 700007, AuthError),
    (NEW_ORDER, 429, 429, RateLimited),
    (CANCEL_ORDER, 400, -2011, UnknownOrder),
    (NEW_ORDER, 200, 30005, OutcomeUnknown),  # a 200 with a code: it may have been placed
    (NEW_ORDER, 200, 700007, OutcomeUnknown),
    (NEW_ORDER, 200, 700003, OutcomeUnknown),  # never resynced and sent again
    (CANCEL_ORDER, 200, -2011, OutcomeUnknown),
    (NEW_ORDER, 400, 12345, OutcomeUnknown),  # a code nobody documents
    (NEW_ORDER, 503, 503, OutcomeUnknown),
    (GET_ORDER, 200, 30005, OrderRejected),  # a query has no effect: classified as before
])
def test_only_a_clear_refusal_says_an_order_took_no_effect(ep: Endpoint, status: int,
                                                           code: int, kind: type) -> None:
    error = decoded(ep, status, code)
    assert type(error) is kind, error
    assert f"{ep.method} {ep.path}: MEXC HTTP {status} code {code}" in str(error)
