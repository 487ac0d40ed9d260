"""The private stream: balances, order updates and own fills.

Balances come from REST at start, after every reconnect and every ``balance_refresh_s``; the
private account pushes keep them current in between (the stream is a feed, not the truth).
The listenKey is created here, kept alive every ``listen_key_keepalive_s`` and replaced (new key,
reconnect, old key deleted) when a keepalive fails or the server calls it invalid.

A push that does not parse, holds values that cannot be true (``push_checks``), or whose
handling fails is logged (channel and what was wrong) and skipped; the order it names, when it
names one, is asked about (``on_recheck``). The stream goes on."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from decimal import Decimal

from loguru import logger

from daemon.adapters.mexc import parsing
from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.adapters.mexc.push_checks import check_account, check_fill, check_order
from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.mexc.ws import WsStream, WsTimings, is_transient
from daemon.config import Settings
from daemon.domain.models import Balance, Fill, OrderReport
from daemon.errors import ExchangeError, InvalidListenKey
from daemon.runtime.supervisor import Supervised, Supervisor

PRIVATE_CHANNELS = ("spot@private.account.v3.api.pb", "spot@private.orders.v3.api.pb",
                    "spot@private.deals.v3.api.pb")
_SEEN_FILLS_MAX = 5000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class UserFeed:
    def __init__(self, settings: Settings, rest: MexcRest, *,
                 on_order: Callable[[OrderReport], Awaitable[None]] | None = None,
                 on_fill: Callable[[Fill], Awaitable[None]] | None = None,
                 on_balances: Callable[[dict[str, Balance]], Awaitable[None]] | None = None,
                 on_recheck: Callable[[str], Awaitable[None]] | None = None,
                 wall_ms: Callable[[], int] = _wall_ms, timings: WsTimings | None = None,
                 keepalive_s: float | None = None, refresh_s: float | None = None,
                 supervisor: Supervisor | None = None) -> None:
        ex = settings.exchange
        self.symbol = settings.symbol
        self._rest = rest
        self._on_order = on_order
        self._on_fill = on_fill
        self._on_balances = on_balances
        self._on_recheck = on_recheck  # ask the exchange about one order (client order id)
        self._wall_ms = wall_ms
        self._ws_url = ex.ws_url
        self._keepalive_s = keepalive_s or ex.listen_key_keepalive_s
        self._refresh_s = refresh_s or ex.balance_refresh_s
        self.stream = WsStream("user stream", self._url, PRIVATE_CHANNELS, self._on_push,
                               on_connected=self._on_connected,
                               timings=timings or WsTimings.from_settings(ex))
        self.balances: dict[str, Balance] = {}
        self.balances_ms: int | None = None  # wall ms of the last REST snapshot
        self._in_flight: list[dict[str, Balance]] = []  # pushes seen during a REST refresh
        self.listen_key: str | None = None
        self._key_ok = False
        self._seen_fills: OrderedDict[str, None] = OrderedDict()
        self._supervisor = supervisor or Supervisor()  # the daemon's, or one of its own
        self._units: list[Supervised] = []
        self.keys_created = 0
        self.keepalives = 0
        self.refreshes = 0
        self.bad_frames = 0

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Balances and a listenKey from REST, then the stream, the keepalive and the balance
        refresh under the supervisor, which restarts them when they die."""
        await self.refresh_balances()
        await self._new_key()
        spawn = self._supervisor.spawn
        self._units = [spawn("user-ws", self.stream.run),
                       spawn("listen-key", self._keepalive_loop),
                       spawn("balance-refresh", self._refresh_loop)]

    async def stop(self) -> None:
        await self._supervisor.cancel(*self._units)
        self._units = []
        await self.stream.stop()
        if self.listen_key is not None:
            await self._delete_key(self.listen_key)
            self.listen_key = None

    def balance(self, asset: str) -> Balance:
        return self.balances.get(asset) or Balance(asset, Decimal(0), Decimal(0))

    # --- balances --------------------------------------------------------------------------
    async def refresh_balances(self) -> dict[str, Balance]:
        """Replace the balances with a REST snapshot; account pushes that arrive while the
        request is in flight are newer than the snapshot and are applied over it."""
        during: dict[str, Balance] = {}
        self._in_flight.append(during)
        try:
            snapshot = await self._rest.account()
        finally:
            self._in_flight.remove(during)
        snapshot.update(during)
        self.balances = snapshot
        self.balances_ms = self._wall_ms()
        self.refreshes += 1
        if self._on_balances is not None:
            await self._on_balances(dict(snapshot))
        return snapshot

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh_balances()
            except ExchangeError as exc:
                logger.warning("user stream: balance refresh failed: {}", exc)

    async def _on_connected(self, reason: str) -> None:
        if reason != "connect":
            await self.refresh_balances()

    # --- listenKey -------------------------------------------------------------------------
    async def _url(self) -> str:
        if isinstance(self.stream.last_failure, InvalidListenKey):
            self._key_ok = False
        if self.listen_key is None or not self._key_ok:
            await self._new_key()
        return f"{self._ws_url}?listenKey={self.listen_key}"

    async def _new_key(self) -> None:
        old = self.listen_key
        self.listen_key = await self._rest.create_listen_key()
        self._key_ok = True
        self.keys_created += 1
        self.stream.last_failure = None
        logger.info("user stream: new listenKey {}…", self.listen_key[:6])
        if old is not None:
            await self._delete_key(old)

    async def _delete_key(self, key: str) -> None:
        try:
            await self._rest.delete_listen_key(key)
        except ExchangeError as exc:
            logger.info("user stream: deleting an old listenKey failed: {}", exc)

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_s)
            await self.keepalive()

    async def keepalive(self) -> None:
        """PUT the key; on failure replace it and reconnect the stream with the new one."""
        key = self.listen_key
        if key is None:
            return
        try:
            await self._rest.keepalive_listen_key(key)
            self.keepalives += 1
            return
        except ExchangeError as exc:
            logger.warning("user stream: listenKey keepalive failed ({}); replacing it", exc)
        try:
            await self._new_key()
        except ExchangeError as exc:
            self._key_ok = False  # the reconnect will try again
            logger.warning("user stream: creating a new listenKey failed: {}", exc)
        self.stream.drop("listenKey replaced")

    # --- pushes ----------------------------------------------------------------------------
    async def _on_push(self, frame: bytes) -> None:
        msg: PushDataV3ApiWrapper | None = None
        try:
            msg = parsing.decode_wrapper(frame)
            await self._handle(msg)
        except Exception as exc:
            if is_transient(exc):
                raise  # the stream reconnects
            await self._skipped(msg, exc)

    async def _handle(self, msg: PushDataV3ApiWrapper) -> None:
        kind = parsing.body_kind(msg)
        if kind == "privateAccount":
            update = check_account(parsing.account_update(msg))
            balance = update.balance()
            self.balances[update.asset] = balance
            for during in self._in_flight:
                during[update.asset] = balance
            if self._on_balances is not None:
                await self._on_balances(dict(self.balances))
        elif kind == "privateOrders":
            report = check_order(parsing.order_push(msg))
            if self._on_order is not None:
                await self._on_order(report)
        elif kind == "privateDeals":
            fill = check_fill(parsing.deal_push(msg))
            if fill.trade_id in self._seen_fills:
                return
            if self._on_fill is not None:
                await self._on_fill(fill)
            self._seen_fills[fill.trade_id] = None  # seen once handled
            if len(self._seen_fills) > _SEEN_FILLS_MAX:
                self._seen_fills.popitem(last=False)

    async def _skipped(self, msg: PushDataV3ApiWrapper | None, exc: Exception) -> None:
        """Log a push that was not applied; ask about the order it names, if any."""
        self.bad_frames += 1
        kind = parsing.body_kind(msg) if msg is not None else None
        channel = (msg.channel if msg is not None else "") or kind or "unreadable frame"
        coid = _client_id(msg, kind) if msg is not None else None
        logger.error("user stream: {} push skipped{}: {}: {}", channel,
                     f" (client order id {coid})" if coid else "", type(exc).__name__, exc)
        if coid is None or self._on_recheck is None:
            return
        try:
            await self._on_recheck(coid)
        except Exception as again:  # the next poll or push asks again
            logger.warning("user stream: asking about {} after a skipped push failed: {!r}",
                           coid, again)


def _client_id(msg: PushDataV3ApiWrapper, kind: str | None) -> str | None:
    if kind == "privateOrders":
        return msg.privateOrders.clientId or None
    if kind == "privateDeals":
        return msg.privateDeals.clientOrderId or None
    return None
