"""The HTTP endpoint (``health.listen``) of a running engine, over real HTTP, against the
simulator and a real redis-server: ``/healthz`` is 200 while healthy and 503 with the reason
when Redis stops answering or the streams stay down (and 200 again after); ``/metrics`` is
Prometheus text whose values are the engine's own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemon.domain.reasons import ReasonCode
from daemon.errors import ConfigError, ExchangeUnavailable
from daemon.local_redis import LocalRedis
from daemon.runtime.engine import RebalancerEngine
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

FAST_WS = {"request_timeout_ms": 500, "ws_ping_interval_s": 0.2, "ws_stale_after_s": 0.5,
           "ws_reconnect_max_backoff_s": 0.2}
UNBALANCED = {"QRL": "20000", "USDT": "200"}  # the first decision trades


@pytest.fixture
def own_redis() -> Iterator[LocalRedis]:
    """A redis-server of this test's own: it gets frozen, so it is not the shared one."""
    with LocalRedis() as server:
        yield server


def endpoint(engine: RebalancerEngine) -> str:
    assert engine.http is not None
    return engine.http.url


async def get(url: str) -> tuple[int, str, dict[str, Any] | None]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        text = await resp.text()
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, text, body


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(engine: RebalancerEngine) -> Samples:
    status, text, _ = await get(endpoint(engine) + "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_healthz_and_metrics_of_a_trading_engine(redis_url: str) -> None:
    cfg = SimConfig(seed=21, speed=120.0, balances=UNBALANCED)
    async with Simulator(cfg) as sim:
        settings = e2e_settings(sim, redis_url, health={"listen": "127.0.0.1:0"})
        async with running_engine(settings, sim_creds(sim)) as engine:
            status, _, body = await get(endpoint(engine) + "/healthz")
            assert status == 200, body
            assert body is not None and body["status"] == "ok" and body["phase"] == "trading"
            assert (body["symbol"], body["mode"]) == ("QRLUSDT", "live")
            await wait_for(lambda: len(engine.ledger.tally.fills) > 0, 15, "a fill booked")
            first = await scrape(engine)
            await wait_for(lambda: engine.evaluations >= 3, 10, "more evaluations")
            before = engine.market.last_price
            second = await scrape(engine)
            after = engine.market.last_price
            url = endpoint(engine)
        with pytest.raises(aiohttp.ClientConnectionError):  # stopped: the port is closed
            await get(url + "/healthz")
    evaluations = total(second, "rebalancer_evaluations_total")
    assert evaluations > total(first, "rebalancer_evaluations_total") >= 1
    assert evaluations == total(second, "rebalancer_decision_latency_seconds_count")
    reasons = {dict(labels)["reason_code"] for (name, labels) in second
               if name == "rebalancer_evaluations_total"}
    assert reasons and reasons <= {code.value for code in ReasonCode}
    triggers = {dict(labels)["trigger"] for (name, labels) in second
                if name == "rebalancer_evaluations_total"}
    assert "schedule" in triggers
    assert value(second, "rebalancer_price") in {float(before or 0), float(after or 0)}
    window = engine.market.window
    assert value(second, "rebalancer_moving_average", window="long") == pytest.approx(
        float(window.ma_long or 0), rel=0.01)
    assert value(second, "rebalancer_lease_phase", phase="trading") == 1
    assert value(second, "rebalancer_lease_phase", phase="standby") == 0
    assert value(second, "rebalancer_healthy") == 1 and value(second, "rebalancer_redis_up") == 1
    assert value(second, "rebalancer_build_info", version=value_label(second, "version"),
                 symbol="QRLUSDT", mode="live") == 1
    # the books: fills and fees booked by this run, as the exchange has them
    trades = sim.my_trades("QRLUSDT")
    assert total(second, "rebalancer_fills_total") == len(trades) >= 1
    fee_usdt = sum((Decimal(t["commission"]) for t in trades
                    if t["commissionAsset"] == "USDT"), Decimal(0))
    if fee_usdt:
        assert value(second, "rebalancer_fees_paid_total", asset="USDT") == pytest.approx(
            float(fee_usdt))
    assert total(second, "rebalancer_orders_total") >= 1
    assert value(second, "rebalancer_realized_pnl") == float(engine.ledger.cost.realized_pnl)
    assert 0 <= value(second, "rebalancer_base_weight") <= 1
    assert value(second, "rebalancer_drift") == pytest.approx(
        value(second, "rebalancer_base_weight") - 0.5)
    assert value(second, "rebalancer_last_evaluation_age_seconds") < 5
    assert value(second, "rebalancer_rest_requests_total") > 0


def value_label(samples: Samples, label: str) -> str:
    for (name, labels) in samples:
        if name == "rebalancer_build_info":
            return dict(labels)[label]
    raise AssertionError("no rebalancer_build_info")


async def test_healthz_503_while_redis_is_frozen_then_200(own_redis: LocalRedis) -> None:
    async with Simulator(SimConfig(seed=22, speed=60.0)) as sim:
        settings = e2e_settings(sim, own_redis.url, health={"listen": "127.0.0.1:0"},
                                schedule={"interval_s": 3600}, redis={"retry_interval_s": 0.5})
        async with running_engine(settings, sim_creds(sim)) as engine:
            url = endpoint(engine) + "/healthz"
            assert (await get(url))[0] == 200
            assert value(await scrape(engine), "rebalancer_redis_outage_seconds_total") == 0
            assert own_redis.proc is not None
            os.kill(own_redis.proc.pid, signal.SIGSTOP)  # Redis stops answering
            try:
                status, _, body = await get(url)  # at once: the PING is not answered
                # the heartbeat's next call times out (5 s): the store says Redis is down
                await wait_for(lambda: not engine.store.available, 10, "Redis marked down")
                await asyncio.sleep(1.0)
                during = await scrape(engine)
            finally:
                os.kill(own_redis.proc.pid, signal.SIGCONT)
            await wait_for(lambda: engine.store.available, 10, "Redis back")
            for _ in range(50):
                again, _, _ = await get(url)
                if again == 200:
                    break
                await asyncio.sleep(0.1)
            after = await scrape(engine)
    assert status == 503 and body is not None, body
    assert body["status"] == "unhealthy" and body["phase"] == "trading"
    assert body["reasons"] == ["redis: no answer to PING within 1 s"], body
    assert value(during, "rebalancer_redis_up") == 0
    assert value(during, "rebalancer_redis_outage_seconds_total") >= 1.0
    assert value(after, "rebalancer_redis_up") == 1
    assert value(after, "rebalancer_redis_outage_seconds_total") > value(
        during, "rebalancer_redis_outage_seconds_total")
    assert again == 200


async def test_healthz_503_while_the_streams_stay_down_then_200(redis_url: str) -> None:
    async with Simulator(SimConfig(seed=23)) as sim:
        settings = e2e_settings(sim, redis_url, exchange=FAST_WS,
                                health={"listen": "127.0.0.1:0"},
                                schedule={"interval_s": 3600})
        async with running_engine(settings, sim_creds(sim)) as engine:
            url = endpoint(engine) + "/healthz"
            assert (await get(url))[0] == 200
            sim.faults.ws_refused_subscriptions = 10**9
            sim.drop_websockets()
            await wait_for(lambda: engine.health() is not None, 8, "streams down")
            status, _, body = await get(url)
            samples = await scrape(engine)
            sim.faults.ws_refused_subscriptions = 0
            await wait_for(lambda: engine.health() is None, 5, "healthy again")
            again, _, _ = await get(url)
            # REST errors by code: a ticker read answered 503 every time (retried 3 times)
            assert total(samples, "rebalancer_rest_errors_total") == 0
            sim.faults.http_5xx_rate = 1.0
            with pytest.raises(ExchangeUnavailable):
                await engine.rest.ticker_price("QRLUSDT")
            sim.faults.http_5xx_rate = 0.0
            errors = await scrape(engine)
    assert value(errors, "rebalancer_rest_errors_total", status="503", code="503") >= 4
    assert status == 503 and body is not None
    assert any("market QRLUSDT down for" in r and "Blocked!" in r for r in body["reasons"])
    assert value(samples, "rebalancer_healthy") == 0
    assert value(samples, "rebalancer_websocket_connected", stream="market") == 0
    assert value(samples, "rebalancer_websocket_reconnects_total", stream="market") >= 1
    assert again == 200


async def test_an_address_that_cannot_be_bound_stops_the_start_naming_the_key(
        redis_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with Simulator(SimConfig(seed=24)) as sim:
            settings = e2e_settings(sim, redis_url, health={"listen": f"127.0.0.1:{port}"})
            with pytest.raises(ConfigError) as err:
                async with running_engine(settings, sim_creds(sim)):
                    pass
    assert str(err.value).startswith(f"health.listen 127.0.0.1:{port}: cannot listen: ")
