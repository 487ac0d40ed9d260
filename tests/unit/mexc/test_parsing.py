"""Payload parsing (lenient on MEXC's real quirks, ProtocolError naming the field on garbage),
the protobuf known-answer vectors, the signing vectors and the error classifier."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr

from daemon.adapters.mexc import intervals, parsing
from daemon.adapters.mexc.kline_push import kline_candle
from daemon.adapters.mexc.rest import MexcRest, classify_error
from daemon.config import Credentials, ExchangeSettings
from daemon.domain.models import OrderStatus, Side
from daemon.errors import (
    AuthError,
    ExchangeUnavailable,
    FatalExchangeError,
    OrderRejected,
    ProtocolError,
    RateLimited,
    SymbolNotTradable,
    TimestampOutOfWindow,
    UnknownOrder,
)
from tests.support.mexc_vectors import ACCOUNT_HEX, DEAL_HEX, KLINE_HEX, ORDER_HEX
from tests.support.mexc_vectors import exchange_info as _info


def test_kline_vector() -> None:
    msg = parsing.decode_wrapper(bytes.fromhex(KLINE_HEX))
    assert parsing.body_kind(msg) == "publicSpotKline" and msg.symbol == "BTCUSDT"
    tick = kline_candle(msg.publicSpotKline)
    assert (msg.publicSpotKline.interval, tick.open_time_ms, tick.close_time_ms) == \
           ("Min1", 1754737920_000, 1754737980_000)
    assert (tick.open, tick.close, tick.high, tick.low) == \
           (Decimal("117317.31"), Decimal("117325.26"), Decimal("117341"), Decimal("117317.3"))
    assert (tick.volume, tick.quote_volume) == (Decimal("3.12599854"), Decimal("366804.43"))


def test_private_vectors() -> None:
    order = parsing.order_push(parsing.decode_wrapper(bytes.fromhex(ORDER_HEX)))
    assert (order.order_id, order.symbol, order.side, order.order_type, order.status) == \
           ("C02__505979017439002624115", "MXUSDT", Side.SELL, "MARKET", OrderStatus.FILLED)
    assert (order.executed_qty, order.cum_quote_qty, order.source) == \
           (Decimal(1), Decimal("3.6962"), "ws")
    deal = parsing.deal_push(parsing.decode_wrapper(bytes.fromhex(DEAL_HEX)))
    assert (deal.trade_id, deal.side, deal.price, deal.qty, deal.fee_asset) == \
           ("505979017439002624X1", Side.SELL, Decimal("3.6962"), Decimal(1), "MX")
    assert deal.fee == Decimal("0.0003998377369698171") and deal.time_ms == 1736417034280
    acc = parsing.account_update(parsing.decode_wrapper(bytes.fromhex(ACCOUNT_HEX)))
    assert (acc.asset, acc.free, acc.locked, acc.change_type) == \
           ("USDT", Decimal("21.94210356004384"), Decimal(0), "CONTRACT_TRANSFER")


def test_garbage_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="PushDataV3ApiWrapper"):
        parsing.decode_wrapper(b"\xff\xff\xff")


def test_kline_rows_lenient_and_strict() -> None:
    row = [1640804880000, "0.1", 0.2, "1E-1", "1.5e-1", None, "1640804940000", "3.9935754907E8"]
    c = parsing.parse_kline_row(row)
    assert (c.high, c.low, c.close, c.volume, c.close_time_ms, c.quote_volume) == \
           (Decimal("0.2"), Decimal("0.1"), Decimal("0.15"), Decimal(0), 1640804940000,
            Decimal("399357549.07"))
    with pytest.raises(ProtocolError, match=r"klines\[0\]\.close"):
        parsing.parse_kline_row([1, "1", "1", "1", "abc", "1", 2, "1"])
    with pytest.raises(ProtocolError, match=r"klines\[3\]"):
        parsing.parse_kline_row("nope", 3)
    with pytest.raises(ProtocolError, match="closeTime"):
        parsing.parse_kline_row([5, "1", "1", "1", "1", "1", 5, "1"])


def test_exchange_rules_and_reasons() -> None:
    r = parsing.parse_exchange_rules(_info(), "QRLUSDT")
    assert (r.base_precision, r.quote_precision, r.min_qty, r.min_notional, r.maker_fee) == \
           (2, 5, Decimal("0.1"), Decimal(1), Decimal(0))
    assert r.order_types == ("LIMIT", "MARKET")
    assert parsing.parse_exchange_rules(_info(status="ENABLED"), "QRLUSDT").tradable
    with pytest.raises(SymbolNotTradable, match="paused"):
        parsing.parse_exchange_rules(_info(status="2"), "QRLUSDT")
    with pytest.raises(SymbolNotTradable, match="isSpotTradingAllowed"):
        parsing.parse_exchange_rules(_info(isSpotTradingAllowed=False), "QRLUSDT")
    with pytest.raises(SymbolNotTradable, match="not listed"):
        parsing.parse_exchange_rules(_info(), "BTCUSDT")
    with pytest.raises(ProtocolError, match="baseAssetPrecision"):
        parsing.parse_exchange_rules(_info(baseAssetPrecision="two"), "QRLUSDT")


def test_order_object_with_real_quirks() -> None:
    o = parsing.parse_order({
        "symbol": "LTCBTC", "orderId": "C02__1", "orderListId": "-1", "clientOrderId": None,
        "price": "0.1", "origQty": "1.0", "executedQty": "0.5", "cummulativeQuoteQty": 0.05,
        "status": "PARTIALLY_CANCELED", "timeInForce": None, "type": "LIMIT", "side": "BUY",
        "stopPrice": None, "time": "1647667102000", "updateTime": None})
    assert (o.client_order_id, o.status, o.cum_quote_qty, o.time_ms, o.update_time_ms) == \
           (None, OrderStatus.PARTIALLY_CANCELED, Decimal("0.05"), 1647667102000,
            1647667102000)
    with pytest.raises(ProtocolError, match=r"order\.status"):
        parsing.parse_order({"orderId": "1", "status": "WEIRD", "side": "BUY"})
    with pytest.raises(ProtocolError, match=r"order\.side"):
        parsing.parse_order({"orderId": "1", "status": "NEW", "side": "HOLD"})


def test_cancel_reply_names_the_order_by_orig_client_order_id() -> None:
    """PROTOCOL.md 9: clientOrderId of a cancel reply is the CANCEL request's id."""
    full = {"symbol": "QRLUSDT", "origClientOrderId": "rb-1-0", "orderId": "C02__9",
            "clientOrderId": "cancelMyOrder1", "price": "0.05", "origQty": "100",
            "executedQty": "40", "cummulativeQuoteQty": "2", "status": "PARTIALLY_CANCELED",
            "timeInForce": None, "type": "LIMIT", "side": "SELL"}
    r = parsing.parse_cancel_reply(full, symbol="QRLUSDT")
    assert r is not None
    assert (r.client_order_id, r.order_id, r.status, r.executed_qty) == \
           ("rb-1-0", "C02__9", OrderStatus.PARTIALLY_CANCELED, Decimal(40))
    echo = dict(full, origClientOrderId=None)
    r = parsing.parse_cancel_reply(echo, symbol="QRLUSDT")
    assert r is not None and r.client_order_id is None  # unknown, never the cancel's id


def test_minimal_cancel_reply_says_nothing_of_the_state() -> None:
    minimal = {"symbol": "QRLUSDT", "orderId": "C02__9", "price": "0.05", "origQty": "100",
               "type": "LIMIT", "side": "SELL"}
    assert parsing.parse_cancel_reply(minimal, symbol="QRLUSDT") is None


def test_minimal_new_order_reply_is_accepted_with_what_was_sent() -> None:
    r = parsing.parse_new_order({"symbol": "QRLUSDT", "orderId": "C02__7",
                                 "orderListId": "-1"},
                                client_order_id="rb-1-0", symbol="QRLUSDT",
                                side_sent=Side.BUY)
    assert (r.order_id, r.client_order_id, r.side, r.status, r.executed_qty) == \
           ("C02__7", "rb-1-0", Side.BUY, OrderStatus.NEW, 0)
    full = parsing.parse_new_order({"symbol": "QRLUSDT", "orderId": "C02__8", "side": "SELL",
                                    "transactTime": "1700000000123", "clientOrderId": ""},
                                   client_order_id="rb-1-1", symbol="QRLUSDT",
                                   side_sent=Side.SELL)
    assert (full.client_order_id, full.time_ms) == ("rb-1-1", 1700000000123)


def test_trade_and_account_rows() -> None:
    t = parsing.parse_trade({"symbol": "BNBBTC", "id": "fad2", "orderId": "bb41",
                             "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
                             "commission": "10.1", "commissionAsset": "BNB", "time": 1499865549590,
                             "isBuyer": True, "isMaker": False, "clientOrderId": None})
    assert (t.side, t.qty, t.fee, t.fee_asset) == (Side.BUY, Decimal(12), Decimal("10.1"), "BNB")
    with pytest.raises(ProtocolError, match=r"myTrades\[0\]\.isBuyer"):
        parsing.parse_trade({"id": "1", "orderId": "2", "isBuyer": "yes"})
    acc = parsing.parse_account({"balances": [{"asset": "QRL", "free": "1111078",
                                               "locked": None, "available": "1"}]})
    assert acc["QRL"].free == Decimal(1111078) and acc["QRL"].locked == 0
    with pytest.raises(ProtocolError, match=r"account.balances\[0\].free"):
        parsing.parse_account({"balances": [{"asset": "QRL", "free": "x"}]})


def test_intervals() -> None:
    assert intervals.rest_interval("Min5") == "5m" and intervals.rest_interval("60m") == "60m"
    assert intervals.ws_interval("5m") == "Min5" and intervals.interval_ms("Min60") == 3_600_000
    assert intervals.kline_channel("qrlusdt", "5m") == \
           "spot@public.kline.v3.api.pb@QRLUSDT@Min5"
    with pytest.raises(ValueError, match="1h"):
        intervals.rest_interval("1h")


@pytest.mark.parametrize(("status", "code", "msg", "kind"), [
    (429, 429, "Too Many Requests", RateLimited),
    (418, None, "", RateLimited),
    (503, None, "", ExchangeUnavailable),
    (400, 700003, "Timestamp for this request is outside of the recvWindow.",
     TimestampOutOfWindow),
    (400, 700002, "Signature for this request is not valid.", AuthError),
    (400, 700004, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
     AuthError),
    (403, None, "Access Denied", AuthError),
    (400, -2013, "Order does not exist.", UnknownOrder),
    (400, -2011, "Unknown order sent.", UnknownOrder),
    (400, 10007, "symbol not support api", SymbolNotTradable),
    (400, 30004, "Insufficient position", OrderRejected),
    (400, 400, " quantity scale is invalid", OrderRejected),
    (400, 33333, "param is error", FatalExchangeError),
])
def test_classifier(status: int, code: int | None, msg: str, kind: type[Exception]) -> None:
    err = classify_error(status, code, msg, retry_after_s=3)
    assert type(err) is kind
    assert err.code == code and err.http_status == status
    if isinstance(err, RateLimited):
        assert err.retry_after_s == 3


def _client(wall: int, recv_window: int = 5000) -> MexcRest:
    settings = ExchangeSettings(rest_url="http://mexc.test", recv_window_ms=recv_window)
    creds = Credentials(api_key=SecretStr("mx0aBYs33eIilxBWC5"),
                        api_secret=SecretStr("45d0b3c26f2644f19bfb98b07741b2f5"))
    return MexcRest(settings, creds, wall_ms=lambda: wall)


def test_signing_known_vector_a() -> None:
    from daemon.adapters.mexc.rest import NEW_ORDER

    client = _client(1644489390087)
    query = client._build_query(NEW_ORDER, [("symbol", "BTCUSDT"), ("side", "BUY"),
                                            ("type", "LIMIT"), ("quantity", "1"),
                                            ("price", "11")])
    assert query == ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000"
                     "&timestamp=1644489390087&signature="
                     "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a")


def _order_object(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "symbol": "QRLUSDT", "orderId": "C02__1", "clientOrderId": "rb-a-0", "price": "0.05",
        "origQty": "100", "executedQty": "100", "cummulativeQuoteQty": "5", "status": "FILLED",
        "type": "LIMIT", "side": "SELL", "time": "1", "updateTime": "2"}
    return {**base, **over}


@pytest.mark.parametrize(("over", "message"), [
    ({"executedQty": None}, r"order\.executedQty: expected a decimal, got None"),
    ({"executedQty": "-1"}, r"order\.executedQty: must be >= 0, got -1"),
    ({"executedQty": "0"}, r"order\.executedQty: 0 with status FILLED"),
    ({"executedQty": "0", "status": "PARTIALLY_CANCELED"},
     r"order\.executedQty: 0 with status PARTIALLY_CANCELED"),
    ({"executedQty": "150", "status": "PARTIALLY_FILLED"},
     r"order\.executedQty: 150 is above origQty 100"),
    ({"cummulativeQuoteQty": "-5"}, r"order\.cummulativeQuoteQty: must be >= 0"),
    ({"origQty": "-100"}, r"order\.origQty: must be >= 0"),
])
def test_an_order_object_whose_quantities_contradict_its_status_is_refused(
        over: dict[str, object], message: str) -> None:
    # never an order closed as "FILLED, filled 0": the query fails, the order is asked again
    with pytest.raises(ProtocolError, match=message):
        parsing.parse_order(_order_object(**over))
    ok = parsing.parse_order(_order_object(executedQty=None, status="NEW"))  # nothing executed
    assert (ok.status, ok.executed_qty) == (OrderStatus.NEW, Decimal(0))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("qty", "-3", r"myTrades\[0\]\.qty: must be positive, got -3"),
    ("qty", "0", r"myTrades\[0\]\.qty: must be positive"),
    ("price", "0", r"myTrades\[0\]\.price: must be positive"),
    ("quoteQty", "-1", r"myTrades\[0\]\.quoteQty: must be >= 0"),
])
def test_a_trade_row_with_impossible_figures_is_refused(field: str, value: str,
                                                        message: str) -> None:
    row = {"symbol": "QRLUSDT", "id": "ab12", "orderId": "C02__1", "price": "0.05",
           "qty": "3", "quoteQty": "0.15", "commission": "0", "commissionAsset": "USDT",
           "time": 5, "isBuyer": False, field: value}
    with pytest.raises(ProtocolError, match=message):
        parsing.parse_trade(row)
