"""Protobuf known-answer vectors (PROTOCOL.md 6.1) against the project's .proto: encode AND
decode; and signing vectors (PROTOCOL.md 1.1) as the simulator verifies them."""

from __future__ import annotations

from decimal import Decimal

from daemon.adapters.mexc.auth import sign, verify
from daemon.adapters.mexc.proto import mexc_push_pb2 as pb
from daemon.sim.engine import DealEvent, Order, OrderEvent, Trade
from daemon.sim.market import Bar
from daemon.sim.push import deal_frame, kline_frame, order_frame
from tests.support.mexc_vectors import ACCOUNT_HEX, DEAL_HEX, KLINE_HEX, ORDER_HEX


def _kline_msg() -> pb.PushDataV3ApiWrapper:
    msg = pb.PushDataV3ApiWrapper(channel="spot@public.kline.v3.api.pb@BTCUSDT@Min1",
                                  symbol="BTCUSDT", symbolId="2fb942154ef44a4ab2ef98c8afb6a4a7",
                                  createTime=1754737941062)
    msg.publicSpotKline.CopyFrom(pb.PublicSpotKlineV3Api(
        interval="Min1", windowStart=1754737920, openingPrice="117317.31",
        closingPrice="117325.26", highestPrice="117341", lowestPrice="117317.3",
        volume="3.12599854", amount="366804.43", windowEnd=1754737980))
    return msg


def test_kline_vector_encode_and_decode() -> None:
    assert _kline_msg().SerializeToString().hex() == KLINE_HEX
    assert len(bytes.fromhex(KLINE_HEX)) == 176
    decoded = pb.PushDataV3ApiWrapper.FromString(bytes.fromhex(KLINE_HEX))
    assert decoded.WhichOneof("body") == "publicSpotKline"
    k = decoded.publicSpotKline
    assert (k.windowStart, k.windowEnd, k.closingPrice) == (1754737920, 1754737980, "117325.26")
    assert decoded.symbol == "BTCUSDT"


def test_sim_kline_frame_matches_vector() -> None:
    """The simulator's own encoder yields the vector bytes (same field values)."""
    bar = Bar(1754737920000, Decimal("117317.31"), Decimal("117341"), Decimal("117317.3"),
              Decimal("117325.26"), Decimal("3.12599854"), Decimal("366804.43"))
    frame = kline_frame("spot@public.kline.v3.api.pb@BTCUSDT@Min1", "BTCUSDT", "Min1", bar,
                        1754737980000, 1754737941062)
    decoded = pb.PushDataV3ApiWrapper.FromString(frame)
    decoded.symbolId = "2fb942154ef44a4ab2ef98c8afb6a4a7"  # ours is a hash of the symbol
    assert decoded.SerializeToString().hex() == KLINE_HEX


def _order() -> Order:
    o = Order("MXUSDT", "C02__505979017439002624115", None, "SELL", "MARKET", Decimal("3.5121"),
              Decimal(1), Decimal(0), 1736417034259, 1736417034259, status="FILLED",
              executed_qty=Decimal(1), cum_quote=Decimal("3.6962"))
    return o


def test_private_order_vector_encode_and_decode() -> None:
    decoded = pb.PushDataV3ApiWrapper.FromString(bytes.fromhex(ORDER_HEX))
    p = decoded.privateOrders
    assert (p.id, p.avgPrice, p.orderType, p.tradeType, p.status) == (
        "C02__505979017439002624115", "3.6962", 5, 2, 2)
    assert p.HasField("lastDealQuantity") and p.lastDealQuantity == "1"
    assert decoded.sendTime == 1736417034281
    # the simulator's encoder, fed the same values, produces the same bytes
    frame = order_frame(OrderEvent(_order(), Decimal(1), False, 0), 1736417034281)
    ours = pb.PushDataV3ApiWrapper.FromString(frame)
    ours.privateOrders.amount = "0"  # the doc sample reports amount 0 for a market sell
    assert ours.SerializeToString().hex() == ORDER_HEX


def test_private_deal_vector_encode_and_decode() -> None:
    decoded = pb.PushDataV3ApiWrapper.FromString(bytes.fromhex(DEAL_HEX))
    d = decoded.privateDeals
    assert (d.tradeId, d.feeAmount, d.feeCurrency, d.tradeType) == (
        "505979017439002624X1", "0.0003998377369698171", "MX", 2)
    trade = Trade("MXUSDT", "505979017439002624X1", "C02__505979017439002624115", None, "SELL",
                  Decimal("3.6962"), Decimal(1), Decimal("3.6962"),
                  Decimal("0.0003998377369698171"), "MX", 1736417034280, False)
    assert deal_frame(DealEvent(trade), 1736417034332).hex() == DEAL_HEX


def test_private_account_vector_encode_and_decode() -> None:
    msg = pb.PushDataV3ApiWrapper(channel="spot@private.account.v3.api.pb",
                                  createTime=1736417034305, sendTime=1736417034307)
    msg.privateAccount.CopyFrom(pb.PrivateAccountV3Api(
        vcoinName="USDT", coinId="128f589271cb4951b03e71e6323eb7be",
        balanceAmount="21.94210356004384", balanceAmountChange="10", frozenAmount="0",
        frozenAmountChange="0", type="CONTRACT_TRANSFER", time=1736416910000))
    assert msg.SerializeToString().hex() == ACCOUNT_HEX
    decoded = pb.PushDataV3ApiWrapper.FromString(bytes.fromhex(ACCOUNT_HEX))
    assert decoded.privateAccount.balanceAmount == "21.94210356004384"
    assert not decoded.HasField("symbol")


SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"


def test_signing_vectors() -> None:
    a = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000"
         "&timestamp=1644489390087")
    assert sign(SECRET, a) == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    sig_b = "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
    body = "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    assert verify(SECRET, "symbol=BTCUSDT&side=BUY&type=LIMIT", body + "&signature=" + sig_b)
    assert verify(SECRET, "signature=" + sig_b + "&symbol=BTCUSDT&side=BUY&type=LIMIT", body)
    assert verify(SECRET, a + "&signature=" + sign(SECRET, a))
    assert not verify(SECRET, a + "&signature=" + sign(SECRET, a).upper())  # lowercase only
    assert not verify(SECRET, a.replace("quantity=1", "quantity=2") + "&signature="
                      + sign(SECRET, a))
    assert sign(SECRET, "recvWindow=5000&timestamp=1644489390087") == (
        "1103ce19f47c037fc03b8b9d674e10ee76e53272851eb2a3b10321cd353fb9bf")
