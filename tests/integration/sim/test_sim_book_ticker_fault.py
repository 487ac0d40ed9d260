"""faults.book_ticker_factor / book_ticker_crossed: the REST bookTicker lies, nothing else."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from daemon.sim import Faults, Simulator
from tests.support.sim_client import Client


async def tops(client: Client) -> tuple[D, D, D, D]:
    status, body = await client.public("ticker/bookTicker", symbol="QRLUSDT")
    assert status == 200
    _, depth = await client.public("depth", symbol="QRLUSDT", limit=1)
    return (D(body["bidPrice"]), D(body["askPrice"]), D(depth["bids"][0][0]),
            D(depth["asks"][0][0]))


async def test_book_ticker_lies_only_when_asked(client: Client, sim: Simulator) -> None:
    sim.pause()  # one book for every request below
    bid, ask, depth_bid, depth_ask = await tops(client)
    assert (bid, ask) == (depth_bid, depth_ask) and bid < ask  # the default tells the truth
    sim.faults.book_ticker_factor = 0.3
    low_bid, low_ask, *_ = await tops(client)  # 5 decimals: bid rounded down, ask up
    assert (low_bid, low_ask) == ((bid * D("0.3")).quantize(D("0.00001"), "ROUND_DOWN"),
                                  (ask * D("0.3")).quantize(D("0.00001"), "ROUND_UP"))
    sim.faults.book_ticker_factor = 1.0
    sim.faults.book_ticker_crossed = True
    crossed_bid, crossed_ask, depth_bid, depth_ask = await tops(client)
    assert (crossed_bid, crossed_ask) == (ask, bid)
    assert (depth_bid, depth_ask) == (bid, ask)  # only bookTicker lies


def test_book_ticker_factor_must_be_finite() -> None:
    with pytest.raises(ValueError, match="book_ticker_factor"):
        Faults(book_ticker_factor=float("inf")).validate()
