"""Fixtures for market tests: a running simulator and a MexcRest client talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Credentials, ExchangeSettings, Settings
from daemon.sim import SimConfig, Simulator


def settings_for(sim: Simulator, **exchange: object) -> Settings:
    ex = ExchangeSettings.model_validate({"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                                         "request_timeout_ms": 2000, **exchange})
    return Settings(symbol=sim.cfg.symbol, exchange=ex)


def creds_for(sim: Simulator) -> Credentials:
    return Credentials(api_key=SecretStr(sim.api_key), api_secret=SecretStr(sim.api_secret))


@pytest.fixture
async def msim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(seed=7, speed=60.0), port=0) as s:
        yield s


@pytest.fixture
async def rest(msim: Simulator) -> AsyncIterator[MexcRest]:
    client = MexcRest(settings_for(msim).exchange, creds_for(msim), backoff_first_s=0.01,
                      backoff_max_s=0.02)
    await client.start()
    try:
        yield client
    finally:
        await client.close()
