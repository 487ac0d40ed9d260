"""Protobuf known-answer vectors (PROTOCOL.md 6.1) against the project's .proto: encode AND
decode; and signing vectors (PROTOCOL.md 1.1) as the simulator verifies them."""

from __future__ import annotations

from decimal import Decimal

from daemon.adapters.mexc.auth import sign, verify
from daemon.adapters.mexc.proto import mexc_push_pb2 as pb
from daemon.sim.engine import DealEvent, Order, OrderEvent, Trade
from daemon.sim.market import Bar
from daemon.sim.push import deal_frame, kline_frame, order_frame

KLINE_HEX = (
    "0a2873706f74407075626c69632e6b6c696e652e76332e6170692e70624042544355534454404d696e311a0742"
    "5443555344542220326662393432313534656634346134616232656639386338616662366134613728c6b4a0f4"
    "8833a213510a044d696e311080dadcc4061a093131373331372e333122093131373332352e32362a0631313733"
    "343132083131373331372e333a0a332e313235393938353442093336363830342e343348bcdadcc406")
ORDER_HEX = (
    "0a1d73706f7440707269766174652e6f72646572732e76332e6170692e70621a064d585553445430a98095d4c4"
    "328213540a1a4330325f5f3530353937393031373433393030323632343131351a06332e353132312201312a01"
    "303206332e36393632380540025201305a01306201316a01317206332e3639363278028001938095d4c432")
DEAL_HEX = (
    "0a1c73706f7440707269766174652e6465616c732e76332e6170692e70621a064d585553445430dc8095d4c432"
    "9213690a06332e363936321201311a06332e3639363220023a1435303539373930313734333930303236323458"
    "314a1a4330325f5f3530353937393031373433393030323632343131355215302e303030333939383337373336"
    "393639383137315a024d5860a88095d4c432")
ACCOUNT_HEX = (
    "0a1e73706f7440707269766174652e6163636f756e742e76332e6170692e706228c18095d4c43230c38095d4c4"
    "329a135f0a0455534454122031323866353839323731636234393531623033653731653633323365623762651a"
    "1132312e3934323130333536303034333834220231302a01303201303a11434f4e54524143545f5452414e5346"
    "455240b0b58dd4c432")


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
