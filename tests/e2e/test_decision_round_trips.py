"""The decision path at its floor (issue 20): from the push that closes a crossover candle to the
order POST, the live engine makes ONE Redis round trip (the write-ahead script) and no REST
request while the websocket book-ticker stream is fresh (and the last price within its best
bid/ask); REST bookTicker, once, only when it is stale.

Counted on the real path: the engine in-process against the simulator (real HTTP and
websockets) and a private redis-server. Every Redis round trip is one send on a connection of
the redis client (a command, a script call or a whole MULTI/EXEC pipeline), recorded by wrapping
``send_packed_command`` (the command still goes to the real server); every REST request by an
aiohttp TraceConfig on the engine's own session. Only what the evaluation task that sends the
POST did after the crossover counts (the heartbeat and the manual-request poll run beside it)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from redis.asyncio.connection import AbstractConnection

from daemon.adapters.mexc.rest import MexcRest
from daemon.domain.candles import CrossoverEvent
from daemon.runtime import engine as engine_module
from daemon.runtime.engine import RebalancerEngine
from daemon.runtime.order_pricing import BookQuote, read_book
from daemon.sim import RandomWalkMarket, SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds

_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")
ORDER = "POST /api/v3/order"


@dataclass
class Path:
    """What one crossover's evaluation did before its POST."""

    redis: list[str] = field(default_factory=list)  # one entry per round trip: "EVALSHA"...
    rest: list[str] = field(default_factory=list)  # "GET /api/v3/ticker/bookTicker"...
    streamed: bool = False  # priced from the stream's book top (fresh, the last price in it)


@dataclass
class Recorder:
    """Redis round trips and REST requests with the task that made them, since a crossover."""

    since: float | None = None  # perf_counter of the crossover being followed
    streamed: bool = False  # the book top the decision read came from the stream
    calls: list[tuple[float, asyncio.Task[Any] | None, str, str]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    wanted: int = 3
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def note(self, kind: str, what: str) -> None:
        if self.since is not None:
            self.calls.append((time.perf_counter(), asyncio.current_task(), kind, what))

    def crossover(self, busy: bool) -> None:
        """A crossover pushed: follow it unless an evaluation runs already (the order then
        waits for it, and what that one did is not this decision's path)."""
        self.since, self.calls = (None if busy else time.perf_counter()), []

    def posted(self) -> None:
        if self.since is None:
            return
        task = asyncio.current_task()
        mine = [(kind, what) for _, t, kind, what in self.calls if t is task]
        self.paths.append(Path([w for k, w in mine if k == "redis"],
                               [w for k, w in mine if k == "rest"], self.streamed))
        self.since = None
        if len(self.paths) >= self.wanted:
            self.enough.set()

    def trace(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()

        async def start(_s: Any, _c: SimpleNamespace, p: aiohttp.TraceRequestStartParams) -> None:
            what = f"{p.method} {p.url.path}"
            if what == ORDER:
                self.posted()
            else:
                self.note("rest", what)

        tc.on_request_start.append(start)
        return tc


def commands(packed: bytes | str | Iterable[bytes]) -> str:
    """'GET', 'EVALSHA', or 'MULTI+SET+LPUSH+LTRIM+EXEC' for a pipeline (one round trip)."""
    raw = packed.encode() if isinstance(packed, str) else \
        packed if isinstance(packed, bytes) else b"".join(packed)
    return "+".join(m.decode().upper() for m in _COMMAND.findall(raw))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    send = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        rec.note("redis", commands(command))
        await send(self, command, check_health)

    async def read(*args: Any) -> BookQuote | None:  # where the decision's book top came from
        quote = await read_book(*args)
        rec.streamed = quote is not None and not quote.from_rest
        return quote

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    monkeypatch.setattr(engine_module, "read_book", read)
    return rec


@asynccontextmanager
async def traced_engine(sim: Simulator, redis_url: str, rec: Recorder,
                        **risk: object) -> AsyncIterator[RebalancerEngine]:
    """The live engine deciding on crossovers only (every one trades: threshold 0)."""
    settings = e2e_settings(
        sim, redis_url, schedule={"interval_s": 3600}, health={"heartbeat_interval_s": 1},
        strategy={"threshold": 0}, execution={"order_timeout_s": 2},
        risk={"min_trade_interval_s": 0, "max_trades_per_day": 1000000, **risk})
    session = aiohttp.ClientSession(trace_configs=[rec.trace()])
    rest = MexcRest(settings.exchange, sim_creds(sim), session=session)
    try:
        async with running_engine(settings, sim_creds(sim), rest=rest) as engine:
            on_crossover = engine.on_crossover

            async def followed(event: CrossoverEvent) -> None:
                rec.crossover(engine.scheduler.busy)
                await on_crossover(event)

            engine.market._on_crossover = followed
            yield engine
    finally:
        await session.close()


def walk() -> SimConfig:
    return SimConfig(seed=3, speed=3000.0, balances={"QRL": "1000000", "USDT": "50000"},
                     market=RandomWalkMarket(volatility_per_min=0.004, trend_per_min=0.002))


async def test_crossover_to_post_is_one_redis_round_trip_and_no_rest(
        redis_url: str, recorder: Recorder) -> None:
    """With the stream's book top, nothing but the write-ahead; when the accelerated market
    has moved past it (the last price outside it), one REST bookTicker, never two."""
    recorder.wanted = 5
    async with Simulator(walk()) as sim, traced_engine(sim, redis_url, recorder):
        await asyncio.wait_for(recorder.enough.wait(), 90)
    paths = recorder.paths
    assert any(p.streamed for p in paths), paths
    for path in paths:
        rest = [] if path.streamed else ["GET /api/v3/ticker/bookTicker"]
        assert (path.redis, path.rest) == (["EVALSHA"], rest), paths


async def test_a_stale_book_stream_is_read_once_from_rest(
        redis_url: str, recorder: Recorder) -> None:
    """Book-ticker pushes muted: the decision's REST bookTicker prices the order too (one
    request, not one for the decision and another for the execution)."""
    async with Simulator(walk()) as sim:
        sim.faults.ws_mute_book_ticker = True
        async with traced_engine(sim, redis_url, recorder) as engine:
            await asyncio.wait_for(recorder.enough.wait(), 60)
            assert engine.market.book[0] is None
    for path in recorder.paths:
        assert (path.redis, path.rest) == (["EVALSHA"], ["GET /api/v3/ticker/bookTicker"]), \
            recorder.paths
