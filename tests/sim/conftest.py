"""Fixtures for simulator tests: a running Simulator and a signing client (no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sim_client import Client

from daemon.sim import SimConfig, Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(seed=1, speed=60.0), port=0) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(sim, session)
