"""MEXC Spot v3 simulator: REST under /api/v3, protobuf websocket at /ws, matching engine,
replayed or random-walk market, faults. See daemon.sim.server for the clock rule."""

from daemon.sim.config import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    ExtraSymbol,
    Faults,
    Hooks,
    OrderAttempt,
    SimConfig,
)
from daemon.sim.engine import SimError
from daemon.sim.market import RandomWalkMarket, ReplayMarket
from daemon.sim.server import Simulator

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "ExtraSymbol",
    "Faults",
    "Hooks",
    "OrderAttempt",
    "RandomWalkMarket",
    "ReplayMarket",
    "SimConfig",
    "SimError",
    "Simulator",
]
