"""MEXC Spot v3 simulator: REST under /api/v3, protobuf websocket at /ws, matching engine,
replayed or random-walk market, faults. As unkind as the real MEXC by default (``Realism``,
PROTOCOL.md 9; ``Realism.kind()`` turns that off). One clock (see daemon.sim.clock): every
reported time is simulated (``speed`` x), /api/v3/time included; a request timestamp passes
MEXC's recvWindow rule against the real clock or the real clock plus an offset /api/v3/time
handed out; rate limits and listenKey expiry run on the real clock.

    async with Simulator(SimConfig(seed=1), port=0) as sim:
        sim.rest_url, sim.ws_url, sim.api_key, sim.api_secret, sim.now_ms()
        sim.faults (mutable), sim.hooks, sim.limiter, sim.pause()/resume()/advance(seconds),
        sim.drop_websockets(), sim.stall_websockets(s), sim.order_requests, sim.orders(),
        sim.my_trades(symbol), sim.trade_ids(symbol) (REST id, push id), sim.balances(),
        sim.price(symbol=main), sim.realism (SimConfig.realism, frozen)

Several symbols: ``SimConfig.for_symbols((ExtraSymbol(...), ...))`` (the first is the main
one), or the basket preset ``daemon.sim.symbols.basket_config(seed=1)`` (QRLUSDT, BTCUSDT,
ETHUSDT); each has its own rules, status and market, all share one account.

Choices where MEXC's behaviour is not documented (UNSURE): a reused newClientOrderId is
refused with 603 "Repeated request: ..."; a BUY short of quote gets 30004 "Insufficient
position", a SELL short of base 30005 "Oversold"; a missing parameter 44444 "param cannot be
null: <name>", a malformed one 400 "param <name> is invalid: ..."; a LIMIT_MAKER that would take
is accepted and canceled at once; a price outside PERCENT_PRICE_BY_SIDE gets 30087."""

from daemon.sim.config import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    BadReply,
    ExtraSymbol,
    Faults,
    Hooks,
    OrderAttempt,
    Realism,
    SimConfig,
    kind_exchange,
)
from daemon.sim.engine import SimError
from daemon.sim.market import RandomWalkMarket, ReplayMarket
from daemon.sim.server import Simulator

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "BadReply",
    "ExtraSymbol",
    "Faults",
    "Hooks",
    "OrderAttempt",
    "RandomWalkMarket",
    "Realism",
    "ReplayMarket",
    "SimConfig",
    "SimError",
    "Simulator",
    "kind_exchange",
]
