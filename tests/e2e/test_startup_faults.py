"""Startup against a MEXC that answers garbage (issue 12, section 4): one truncated answer from
any startup request is survived inside the process (the daemon becomes ready and decides);
an error that lasts names its request on the one line the daemon exits with; a permanent auth
error still stops it at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daemon.runtime.engine import RebalancerEngine
from daemon.sim import BadReply, SimConfig, Simulator
from tests.support.daemon_process import daemon_env, kill_left, live_config, start_daemon, wait_exit
from tests.support.e2e_harness import (
    e2e_settings,
    running_app,
    sim_creds,
    wait_for,
    warning_messages,
)

# every request a first live start with API keys makes before READY=1, in order
STARTUP_REQUESTS = [
    "GET /api/v3/time",
    "GET /api/v3/exchangeInfo",
    "GET /api/v3/defaultSymbols",
    "GET /api/v3/allOrders",
    "GET /api/v3/openOrders",
    "GET /api/v3/klines",
    "GET /api/v3/account",
    "POST /api/v3/userDataStream",
    "GET /api/v3/myTrades",
]


@pytest.mark.parametrize("endpoint", STARTUP_REQUESTS)
async def test_one_truncated_answer_at_startup_is_survived(redis_url: str, tmp_path: Path,
                                                           endpoint: str) -> None:
    with warning_messages() as warnings:
        async with Simulator(SimConfig(seed=3, speed=60.0)) as sim:
            sim.faults.bad_replies = (BadReply(endpoint, "truncated", first=1),)
            settings = e2e_settings(sim, redis_url, runtime={"startup_timeout_s": 5})
            async with running_app(settings, sim_creds(sim), tmp_path / "config.yaml") as (
                    app, run):
                def decided() -> bool:
                    engine = app.engine
                    return run.done() or (isinstance(engine, RebalancerEngine)
                                          and engine.evaluations > 0)

                await wait_for(decided, 20, "the first evaluation")  # loaded CI: retries
                assert not run.done(), run.exception()
                assert sim.bad_reply_seen[endpoint] >= 2  # the bad answer, then a good one
                assert isinstance(app.engine, RebalancerEngine)
                assert app.engine.last_plan is not None  # it decided (trade or hold)
                app.request_stop()
                assert await asyncio.wait_for(run, 15) == 0
    said = [w for w in warnings if w.startswith("startup:")]
    assert len(said) == 1, said  # logged once, naming the request
    assert f"{endpoint}: response is not JSON" in said[0], said


async def test_a_lasting_502_page_exits_naming_the_request(redis_url: str,
                                                           tmp_path: Path) -> None:
    async with Simulator(SimConfig(seed=3, speed=60.0)) as sim:
        sim.faults.bad_replies = (BadReply("GET /api/v3/exchangeInfo", "html502", first=0),)
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml",
                          runtime={"startup_timeout_s": 3})
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            assert await wait_exit(proc, 9.0) == 1
        finally:
            kill_left(proc)
        lines = log.read_text().splitlines()
        assert lines[-1] == ("error: GET /api/v3/exchangeInfo: MEXC HTTP 502: 502 Bad Gateway"), \
            lines[-5:]
        retried = [x for x in lines if "startup: exchange rules failed" in x]
        assert len(retried) == 1, retried  # once per distinct error, not per retry
        assert "GET /api/v3/exchangeInfo: MEXC HTTP 502: 502 Bad Gateway" in retried[0]
        assert any("startup: exchange rules still failing after 3 s" in x for x in lines)
        # MexcRest's own 3 retries, then at least one more round inside the process
        assert sim.bad_reply_seen["GET /api/v3/exchangeInfo"] >= 8


async def test_a_permanent_auth_error_exits_at_once_with_one_line(redis_url: str,
                                                                  tmp_path: Path) -> None:
    async with Simulator(SimConfig(seed=3, speed=60.0)) as sim:
        sim.faults.bad_replies = (BadReply("GET /api/v3/account", "code", first=0,
                                           code=700007,
                                           msg="No permission to access the endpoint."),)
        cfg = live_config(sim, redis_url, tmp_path / "config.yaml",
                          runtime={"startup_timeout_s": 60})
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, daemon_env(sim))
        try:
            assert await wait_exit(proc, 9.0) == 1  # not after the 60 s of retries
        finally:
            kill_left(proc)
        lines = log.read_text().splitlines()
        assert lines[-1] == ("error: GET /api/v3/account: MEXC HTTP 200 code 700007: No "
                             "permission to access the endpoint."), lines[-5:]
        assert sim.bad_reply_seen["GET /api/v3/account"] == 1  # not retried
