"""A lying bookTicker never prices an order (issue 12, 1): the real engine against the
simulator, whose REST bookTicker answers 100x, 3x, 0.3x, 0.01x of the market, a zero price or
bid above ask. Nothing reaches the exchange while it lies; the recorded plan and the log say
why, naming the source and the value; once the book tells the truth an order goes out.

An order is priced from REST bookTicker only while the websocket book-ticker stream is stale
(issue 20): its pushes are muted here, so REST is what prices every order."""

from __future__ import annotations

from typing import Any

import pytest
from loguru import logger

from daemon.sim import BadReply, SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

OUT = "price_out_of_band"
LIES: list[tuple[dict[str, Any], str, str]] = [  # (faults, reason code, what the log says)
    ({"book_ticker_factor": 100.0}, OUT, "% away from the kline last price"),
    ({"book_ticker_factor": 3.0}, OUT, "% away from the kline last price"),
    ({"book_ticker_factor": 0.3}, OUT, "% away from the kline last price"),
    ({"book_ticker_factor": 0.01}, OUT, "% away from the kline last price"),
    ({"book_ticker_factor": 0.0}, "no_price", "bid 0 is not a price (<= 0)"),
    ({"book_ticker_factor": 1.0, "book_ticker_crossed": True}, "no_price", "a crossed book"),
]


async def test_a_lying_book_ticker_sends_nothing_until_it_tells_the_truth(
        redis_url: str) -> None:
    refusals: list[str] = []
    sink = logger.add(lambda m: refusals.append(str(m)), level="ERROR",
                      filter=lambda r: "order NOT sent" in r["message"])
    cfg = SimConfig(seed=12, speed=60.0, balances={"QRL": "20000", "USDT": "200"})
    try:
        async with Simulator(cfg) as sim:
            sim.faults.ws_mute_book_ticker = True
            settings = e2e_settings(sim, redis_url, risk={"max_price_deviation_pct": 20})
            async with running_engine(settings, sim_creds(sim)) as engine:
                for lie, code, says in LIES:
                    for name, value in lie.items():
                        setattr(sim.faults, name, value)
                    before = len(refusals)
                    await wait_for(lambda n=before: len(refusals) > n, 5, f"{lie} refused")
                    assert f"[{code}] REST bookTicker QRLUSDT" in refusals[before], refusals
                    assert says in refusals[before], refusals
                    # recorded before it is logged; the next decision may follow it
                    recent = await engine.store.plan_history(2)
                    held = next(p for p in recent if p["action"] == "HOLD")
                    assert (held["reason_code"], held["trigger"]) == (code, "order_price_check")
                    assert held["reason"].startswith("HOLD: order not sent: REST bookTicker")
                    assert sim.order_requests == []
                sim.faults.book_ticker_crossed = False  # the truth again
                await wait_for(lambda: len(sim.order_requests) >= 1, 5, "an order")
                (sent,) = sim.order_requests
                assert sent.params["side"] == "SELL"
    finally:
        logger.remove(sink)


@pytest.mark.parametrize("kind", ["truncated", "html502", "code"])
async def test_a_garbage_book_ticker_is_a_recorded_hold_not_a_failed_evaluation(
        redis_url: str, kind: str) -> None:
    """REST bookTicker answering garbage when an order is to be priced (from the hostile
    campaign: the error went up to the scheduler as 'evaluation failed' with a traceback and no
    plan said why nothing was sent): a HOLD no_price naming the request, nothing sent."""
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="ERROR")
    cfg = SimConfig(seed=12, speed=60.0, balances={"QRL": "20000", "USDT": "200"})
    try:
        async with Simulator(cfg) as sim:
            sim.faults.ws_mute_book_ticker = True
            sim.faults.bad_replies = (BadReply("GET /api/v3/ticker/bookTicker", kind,
                                               first=0, code=-1),)
            settings = e2e_settings(sim, redis_url)
            async with running_engine(settings, sim_creds(sim)) as engine:
                await wait_for(lambda: any("order NOT sent" in m for m in said), 8, "a refusal")
                recent = await engine.store.plan_history(3)
    finally:
        logger.remove(sink)
    held = next(p for p in recent if p["trigger"] == "order_price_check")
    assert held["reason_code"] == "no_price"
    assert held["reason"].startswith("HOLD: order not sent: REST bookTicker QRLUSDT: no book "
                                     "top to price the order from (GET /api/v3/ticker/bookTicker")
    assert sim.order_requests == []
    assert not [m for m in said if "evaluation" in m and "failed" in m], said
