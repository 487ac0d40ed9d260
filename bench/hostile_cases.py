"""The cases of the hostile-exchange campaign (bench/hostile_campaign.py): every REST endpoint
the daemon calls x every bad answer the simulator can give that makes sense for it
(``Faults.bad_replies``), and the websocket faults (refused subscriptions, refused private
handshakes, lying or unreadable pushes, drops, stalls, delays, duplicates, a lying
bookTicker), each once and always.

A case is armed on a running simulator before the daemon starts (``arm``) and may drive
faults while it runs (``drive``, given the moment the daemon said READY)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from daemon.adapters.mexc.proto import mexc_push_pb2 as pb
from daemon.sim import BadReply, Simulator
from daemon.sim.push import CH_ACCOUNT, CH_DEALS, CH_ORDERS, KLINE_PREFIX

ALWAYS = 10**9  # "every time": more than a run can use
GENERIC = ("truncated", "html502", "code")
ORDER_OBJECTS = ("executed_null", "executed_negative")

# endpoint -> the bad answers that make sense for it (what its reply carries)
REST_KINDS: dict[str, tuple[str, ...]] = {
    "GET /api/v3/time": GENERIC,
    "GET /api/v3/exchangeInfo": GENERIC,
    "GET /api/v3/defaultSymbols": GENERIC,
    "GET /api/v3/klines": GENERIC,
    "GET /api/v3/ticker/price": (*GENERIC, "price_x100"),
    "GET /api/v3/ticker/bookTicker": GENERIC,
    "GET /api/v3/account": (*GENERIC, "balances_null", "balances_huge", "balances_negative"),
    "POST /api/v3/order": (*GENERIC, "code_after", *ORDER_OBJECTS, "price_x100"),
    "GET /api/v3/order": (*GENERIC, *ORDER_OBJECTS, "price_x100"),
    "DELETE /api/v3/order": (*GENERIC, "code_after", *ORDER_OBJECTS, "price_x100"),
    "GET /api/v3/openOrders": (*GENERIC, *ORDER_OBJECTS, "price_x100"),
    "GET /api/v3/allOrders": (*GENERIC, *ORDER_OBJECTS, "price_x100"),
    "GET /api/v3/myTrades": (*GENERIC, "price_x100"),
    "POST /api/v3/userDataStream": (*GENERIC, "code_after"),
    "PUT /api/v3/userDataStream": (*GENERIC, "code_after"),
    "DELETE /api/v3/userDataStream": (*GENERIC, "code_after"),
}

QUICK_ENDPOINTS = ("GET /api/v3/exchangeInfo", "GET /api/v3/account", "POST /api/v3/order",
                   "GET /api/v3/order", "DELETE /api/v3/order", "GET /api/v3/myTrades")
QUICK_KINDS = ("truncated", "code_after", "executed_null", "price_x100", "balances_huge")

Driver = Callable[[Simulator, "Ready"], Awaitable[None]]


@dataclass
class Ready:
    """When the daemon said READY=1 (set by the runner), for drivers that wait for it."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    at: float = 0.0


@dataclass(frozen=True)
class Case:
    name: str  # unique: "<target> <kind> <once|always>"
    group: str  # rest | ws-refusal | ws-handshake | ws-push | ws-faults | book
    target: str  # the endpoint or the channel
    kind: str
    once: bool
    arm: Callable[[Simulator], None]
    drive: Driver | None = None
    quick: bool = False  # part of the --quick subset

    @property
    def times(self) -> str:
        return "once" if self.once else "always"


def rest_cases() -> list[Case]:
    cases: list[Case] = []
    for endpoint, kinds in REST_KINDS.items():
        for kind in kinds:
            for once in (True, False):
                bad = BadReply(endpoint, kind, first=1 if once else 0)
                cases.append(Case(f"{endpoint} {kind} {'once' if once else 'always'}", "rest",
                                  endpoint, kind, once, _bad_reply(bad),
                                  quick=endpoint in QUICK_ENDPOINTS and kind in QUICK_KINDS
                                  and once != (kind == "executed_null")))
    return cases


def _bad_reply(bad: BadReply) -> Callable[[Simulator], None]:
    def arm(sim: Simulator) -> None:
        sim.faults.bad_replies = (bad,)
    return arm


def _nothing(sim: Simulator) -> None:
    return None


def ws_cases() -> list[Case]:
    cases = [_refusal(True), _refusal(False)]
    for status in (403, 500):
        for once in (True, False):
            cases.append(_handshake(status, once))
    for kind in PUSH_LIES:
        for once in (True, False):
            cases.append(_push_lie(kind, once))
    cases += _push_faults()
    for factor, crossed in ((100.0, False), (3.0, False), (0.3, False), (0.01, False),
                            (1.0, True)):
        for once in (True, False):
            cases.append(_book(factor, crossed, once))
    return cases


def all_cases() -> list[Case]:
    return rest_cases() + ws_cases()


def _refusal(once: bool) -> Case:
    def arm(sim: Simulator) -> None:
        sim.faults.ws_refused_subscriptions = 1 if once else ALWAYS

    return Case(f"ws subscription Blocked! {'once' if once else 'always'}", "ws-refusal",
                "ws subscribe", "refused", once, arm, quick=True)


def _handshake(status: int, once: bool) -> Case:
    def arm(sim: Simulator) -> None:
        sim.faults.ws_private_handshake_status = status

    async def drive(sim: Simulator, ready: Ready) -> None:
        # once: the first private handshake (the first listenKey made) is refused, then none
        for _ in range(2400):  # at most two minutes
            if sim.listen_keys:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        sim.faults.ws_private_handshake_status = 0

    return Case(f"ws private handshake {status} {'once' if once else 'always'}",
                "ws-handshake", "ws /ws?listenKey", f"http{status}", once, arm,
                drive if once else None, quick=status == 403)


# -- lying pushes: the simulator's own frames, spoilt on their way out --------------------

def _scale(value: str, by: int) -> str:
    return str(Decimal(value) * by)


def _deal_negative(w: pb.PushDataV3ApiWrapper) -> None:
    w.privateDeals.quantity = "-" + w.privateDeals.quantity


def _deal_x100(w: pb.PushDataV3ApiWrapper) -> None:
    w.privateDeals.price = _scale(w.privateDeals.price, 100)


def _deal_x100_amount(w: pb.PushDataV3ApiWrapper) -> None:
    """A consistent lie: price and amount x100 (price x quantity is still the amount)."""
    w.privateDeals.price = _scale(w.privateDeals.price, 100)
    w.privateDeals.amount = _scale(w.privateDeals.amount, 100)


def _order_overfilled(w: pb.PushDataV3ApiWrapper) -> None:
    w.privateOrders.cumulativeQuantity = _scale(w.privateOrders.quantity, 2)


def _account_negative(w: pb.PushDataV3ApiWrapper) -> None:
    w.privateAccount.balanceAmount = "-5"


def _kline_negative(w: pb.PushDataV3ApiWrapper) -> None:
    w.publicSpotKline.closingPrice = "-1"
    w.publicSpotKline.lowestPrice = "-1"


def _kline_x100(w: pb.PushDataV3ApiWrapper) -> None:
    k = w.publicSpotKline
    k.openingPrice, k.closingPrice = _scale(k.openingPrice, 100), _scale(k.closingPrice, 100)
    k.highestPrice, k.lowestPrice = _scale(k.highestPrice, 100), _scale(k.lowestPrice, 100)


Lie = Callable[[pb.PushDataV3ApiWrapper], None] | None  # None: the frame becomes garbage
PUSH_LIES: dict[str, tuple[str, Lie]] = {  # kind -> (channel or prefix, how it lies)
    "deal_negative_qty": (CH_DEALS, _deal_negative),
    "deal_price_x100": (CH_DEALS, _deal_x100),
    "deal_price_amount_x100": (CH_DEALS, _deal_x100_amount),
    "order_overfilled": (CH_ORDERS, _order_overfilled),
    "account_negative": (CH_ACCOUNT, _account_negative),
    "private_garbage": (CH_ORDERS, None),
    "kline_negative": (KLINE_PREFIX, _kline_negative),
    "kline_price_x100": (KLINE_PREFIX, _kline_x100),
    "kline_garbage": (KLINE_PREFIX, None),
}
GARBAGE = b"\x0a\xff\xff\xff\xff\x0fnot a protobuf push"


def _push_lie(kind: str, once: bool) -> Case:
    channel, lie = PUSH_LIES[kind]

    def arm(sim: Simulator) -> None:
        spoil_pushes(sim, channel, lie, once)

    return Case(f"ws push {kind} {'once' if once else 'always'}", "ws-push", channel, kind,
                once, arm, quick=kind in ("deal_price_x100", "order_overfilled",
                                          "kline_garbage"))


def spoil_pushes(sim: Simulator, channel: str, lie: Lie, once: bool) -> None:
    """Every push of ``channel`` (a kline prefix: any kline channel) sent from now on, or only
    the first one, is spoilt by ``lie`` (None: replaced by bytes that are no protobuf). The
    hub's send is wrapped: the frame is the simulator's own, only its values lie."""
    hub = sim.hub
    send = hub._send
    spoilt = 0

    def lying_send(conn: object, data: str | bytes, *, push: bool = False) -> None:
        nonlocal spoilt
        if push and isinstance(data, bytes) and not (once and spoilt):
            wrapper = pb.PushDataV3ApiWrapper.FromString(data)
            if wrapper.channel == channel or (
                    channel.endswith("@") and wrapper.channel.startswith(channel)):
                spoilt += 1
                if lie is None:
                    data = GARBAGE
                else:
                    lie(wrapper)
                    data = wrapper.SerializeToString()
        send(conn, data, push=push)  # type: ignore[arg-type]

    hub._send = lying_send  # type: ignore[method-assign]


def _push_faults() -> list[Case]:
    def rate(name: str, value: float, extra: dict[str, float] | None = None) -> Callable[
            [Simulator], None]:
        def arm(sim: Simulator) -> None:
            setattr(sim.faults, name, value)
            for k, v in (extra or {}).items():
                setattr(sim.faults, k, v)
        return arm

    def at_ready(act: Callable[[Simulator], None]) -> Driver:
        async def drive(sim: Simulator, ready: Ready) -> None:
            await ready.event.wait()
            await asyncio.sleep(5)
            act(sim)
        return drive

    return [
        Case("ws push duplicated always", "ws-faults", "ws", "duplicate", False,
             rate("push_duplicate_rate", 0.5)),
        Case("ws push delayed 1.5s always", "ws-faults", "ws", "delay", False,
             rate("push_delay_ms", 1500)),
        Case("ws drop always", "ws-faults", "ws", "drop", False,
             rate("ws_drop_rate_per_s", 0.2), quick=True),
        Case("ws stall 5s always", "ws-faults", "ws", "stall", False,
             rate("ws_stall_rate_per_s", 0.1, {"ws_stall_s": 5.0})),
        Case("ws drop once", "ws-faults", "ws", "drop", True, _nothing,
             at_ready(lambda sim: sim.drop_websockets())),
        Case("ws stall 8s once", "ws-faults", "ws", "stall", True, _nothing,
             at_ready(lambda sim: sim.stall_websockets(8.0))),
    ]


def _book(factor: float, crossed: bool, once: bool) -> Case:
    kind = "crossed" if crossed else f"x{factor:g}"

    def arm(sim: Simulator) -> None:
        sim.faults.book_ticker_factor = factor
        sim.faults.book_ticker_crossed = crossed

    async def drive(sim: Simulator, ready: Ready) -> None:
        # once: the book lies until the daemon's first decisions are past (10 s after READY)
        await ready.event.wait()
        await asyncio.sleep(max(0.0, ready.at + 10 - time.monotonic()))
        sim.faults.book_ticker_factor, sim.faults.book_ticker_crossed = 1.0, False

    return Case(f"REST bookTicker {kind} {'once' if once else 'always'}", "book",
                "GET /api/v3/ticker/bookTicker", kind, once, arm, drive if once else None,
                quick=kind in ("x0.01", "crossed"))
