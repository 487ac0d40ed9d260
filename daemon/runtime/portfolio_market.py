"""The market data of a portfolio of several assets: ONE ``MarketHub`` for every pair (its
connections shared, 15 pairs per connection), handed to the base engine as its ``market``.

``HubMarket`` is what the base engine (``RebalancerEngine``) holds as ``self.market``: its
``start``/``stop`` run the hub (so the engine's startup retry starts every pair at once, and
its close stops them once); its per-pair fields (window, prices, book, stream, deafness) are
the first pair's, which is what the base engine reports for the process. Each pair's own
fields are its ``HubPair`` (``PairUnit.market``). A one-asset portfolio and the single-pair
config keep ``MarketFeed``."""

from __future__ import annotations

from decimal import Decimal

from daemon.adapters.mexc.ws import WsStream
from daemon.domain.candles import CandleWindow
from daemon.domain.models import BookTop
from daemon.domain.pricing import PriceReference
from daemon.runtime.market_feed import FeedStats
from daemon.runtime.market_hub import HubPair, MarketHub

__all__ = ["HubMarket"]


class HubMarket:
    """``hub``'s lifecycle, with the first pair's market fields."""

    def __init__(self, hub: MarketHub) -> None:
        self.hub = hub
        self.first: HubPair = next(iter(hub.pairs.values()))

    async def start(self) -> None:
        """Backfill every pair, then run the connections and polls (``MarketHub.start``). A
        failed backfill has started nothing (the connections run only after every pair's
        backfill), so the engine's startup retry simply calls this again."""
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

    @property
    def running(self) -> bool:
        return self.hub.running

    # --- the first pair's fields (what the base engine reads) ------------------------------
    @property
    def symbol(self) -> str:
        return self.first.symbol

    @property
    def window(self) -> CandleWindow:
        return self.first.window

    @property
    def stream(self) -> WsStream:
        return self.first.stream

    @property
    def stats(self) -> FeedStats:
        return self.first.stats

    @property
    def last_price(self) -> Decimal | None:
        return self.first.last_price

    @property
    def last_price_ms(self) -> int | None:
        return self.first.last_price_ms

    @property
    def book(self) -> tuple[BookTop | None, int | None]:
        return self.first.book

    def reference(self) -> PriceReference:
        return self.first.reference()

    def deaf(self) -> str | None:
        return self.first.deaf()
