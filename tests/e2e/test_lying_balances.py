"""Account balances that lie at first start (issue 12, part 2): null, 1e300, negative or x1000
free amounts never become the quantity the initial cost basis covers, and a negative one no
longer crashes startup. The account answer is a ProtocolError naming the field and the value
(x1000: the balances the books are seeded from are read twice and must agree); startup asks
again (inside the process) and the truthful answer is used."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daemon.runtime.engine import RebalancerEngine
from daemon.sim import BadReply, SimConfig, Simulator
from tests.support.e2e_harness import (
    e2e_settings,
    running_app,
    sim_creds,
    wait_for,
    warning_messages,
)


@pytest.mark.parametrize(("kind", "said"), [
    ("balances_null", "account.balances[0].free: expected a decimal, got None"),
    ("balances_huge", "account.balances[0].free: 1e+300 is above 1e+15"),
    ("balances_negative", "account.balances[0].free: must be >= 0, got -5"),
    # consistent in itself: only a second read shows it
    ("balances_x1000", "two reads of the balances disagree"),
])
async def test_lying_balances_at_first_start_are_asked_again(redis_url: str, tmp_path: Path,
                                                            kind: str, said: str) -> None:
    with warning_messages() as warnings:
        async with Simulator(SimConfig(seed=3, speed=60.0)) as sim:
            sim.faults.bad_replies = (BadReply("GET /api/v3/account", kind, first=1),)
            settings = e2e_settings(sim, redis_url, runtime={"startup_timeout_s": 5},
                                    strategy={"initial_cost_basis": "0.05"})
            async with running_app(settings, sim_creds(sim), tmp_path / "config.yaml") as (
                    app, run):
                def ready() -> bool:  # started (not only seeded): the stop below is a stop
                    engine = app.engine
                    return run.done() or (isinstance(engine, RebalancerEngine) and engine.ready
                                          and engine.ledger.cost.avg_cost is not None)

                await wait_for(ready, 20, "the initial cost basis")  # loaded CI: a retry
                assert not run.done(), run.exception()
                assert isinstance(app.engine, RebalancerEngine)
                free, locked = sim.balances()["QRL"]
                assert app.engine.ledger.cost.qty == free + locked  # the truthful balance
                assert sim.bad_reply_seen["GET /api/v3/account"] >= 2
                app.request_stop()
                assert await asyncio.wait_for(run, 15) == 0
    named = [w for w in warnings if "GET /api/v3/account" in w and said in w]
    assert named, [w for w in warnings if w.startswith("startup:")]
