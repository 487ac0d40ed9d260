"""The live daemon feeds the best bid/ask to its decisions (issue 14): from the websocket
book-ticker channel (protobuf, as real clients subscribe to it) while fresh, from REST
bookTicker when the stream's is stale; the spread check and the spread cost read it."""

from __future__ import annotations

from decimal import Decimal

from daemon.domain.planner import Plan
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

UNBALANCED = {"QRL": "20000", "USDT": "200"}  # every decision wants to sell


async def _plans(redis_url: str, risk: dict[str, object], *,
                 mute: bool = False) -> tuple[list[Plan], int, int]:
    async with Simulator(SimConfig(seed=5, speed=60.0, balances=UNBALANCED)) as sim:
        sim.faults.ws_mute_pushes = mute
        settings = e2e_settings(sim, redis_url, risk=risk)
        plans: list[Plan] = []
        async with running_engine(settings, sim_creds(sim)) as engine:
            def seen() -> bool:
                plan = engine.last_plan
                if plan is not None and (not plans or plans[-1] is not plan):
                    plans.append(plan)
                return len(plans) >= 3

            await wait_for(seen, 15, "three decisions")
            books = sim.requests_seen["GET /api/v3/ticker/bookTicker"]
            pushed = engine.market.book[0] is not None
        return plans, books, int(pushed)


async def test_a_spread_wider_than_the_limit_holds_with_the_streams_book(
        redis_url: str) -> None:
    plans, _, pushed = await _plans(redis_url, {"max_spread_pct": "0.000001"})
    assert pushed == 1  # the stream's book-ticker pushes arrived
    assert {p.reason_code for p in plans} == {"spread_too_wide"}
    assert all("more than max_spread_pct 0.000001%" in p.reason for p in plans)


async def test_a_trade_carries_the_spread_cost_of_the_streams_book(redis_url: str) -> None:
    plans, _, _ = await _plans(redis_url, {"max_spread_pct": "50"})
    trades = [p for p in plans if p.is_trade]
    assert trades, [p.reason for p in plans]
    for plan in trades:
        fig = plan.figures
        assert fig.est_spread_cost is not None and fig.est_spread_cost > 0
        assert fig.est_cost == (fig.est_fee or Decimal(0)) + fig.est_spread_cost
        assert "spread_too_wide not checked" not in plan.reason


async def test_without_book_pushes_the_decision_reads_rest_bookticker(redis_url: str) -> None:
    """Pushes muted (the stream's book is never fresh): REST bookTicker gives the spread."""
    plans, books, pushed = await _plans(redis_url, {"max_spread_pct": "0.000001"}, mute=True)
    assert pushed == 0 and books >= 3
    assert {p.reason_code for p in plans} == {"spread_too_wide"}
