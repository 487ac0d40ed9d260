"""An order update the transition table refuses is logged once with the client order id and
counted by kind on the ledger (real Redis), and the stored order is left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from loguru import logger

from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.domain.models import ExchangeRules, OrderReport, OrderStatus, Side
from daemon.domain.orders import (
    IgnoredKind,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderStatusReported,
    new_intent,
)
from daemon.runtime.ledger import Ledger
from daemon.runtime.settings_ref import SettingsRef

COID = "rb-abc-0"
VENUE_ID = "C02__1"
RULES = ExchangeRules(symbol="QRLUSDT", base_asset="QRL", quote_asset="USDT", base_precision=2,
                      quote_precision=5, min_qty=D("0.01"), min_notional=D("1"),
                      taker_fee=D("0.0005"))
SETTINGS = SettingsRef(parse_settings({}))


def report(status: OrderStatus, executed: str, update_ms: int) -> OrderReport:
    e = D(executed)
    return OrderReport(order_id=VENUE_ID, client_order_id=COID, symbol="QRLUSDT", side=Side.BUY,
                       order_type="LIMIT", status=status, price=D("2"), orig_qty=D("30"),
                       executed_qty=e, cum_quote_qty=e * 2, time_ms=1, update_time_ms=update_ms)


@pytest.fixture
def records() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    sink = logger.add(lambda m: seen.append(m.record), level="DEBUG", format="{message}")
    yield seen
    logger.remove(sink)


async def filled_order_in(ledger: Ledger) -> Order:
    order = new_intent(COID, "QRLUSDT", Side.BUY, "LIMIT", D("30"), D("2"), 1)
    await ledger.write_intent(order)
    order = order.apply(OrderAccepted(VENUE_ID, 2)).apply(
        OrderStatusReported(report(OrderStatus.FILLED, "30", 3_000)))
    return await ledger.record(order)


def ignored_lines(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["level"].name, r["extra"].get("client_order_id", ""), r["message"])
            for r in records if "order update ignored" in r["message"]]


async def test_a_late_report_is_logged_once_and_counted(
    store: RedisStore, records: list[dict[str, Any]]
) -> None:
    ledger = Ledger(store, SETTINGS, RULES, await store.load_state(), lambda: 10_000)
    stored = await filled_order_in(ledger)
    assert stored.status.value == "FILLED"

    # a private orders push that was overtaken by the REST reply: an older status
    await ledger.apply_to_known(COID, OrderStatusReported(
        report(OrderStatus.PARTIALLY_FILLED, "10", 2_500)))
    assert ledger.ignored_transitions == {IgnoredKind.STALE: 1}
    assert ignored_lines(records) == [(
        "INFO", COID, "order update ignored (stale): OrderStatusReported would move the order "
        "FILLED -> PARTIALLY_FILLED")]

    # a cancel ack for an order that has filled: another end after the end
    await ledger.apply_to_known(COID, OrderCanceled(3_500))
    assert ledger.ignored_transitions == {IgnoredKind.STALE: 1, IgnoredKind.AFTER_TERMINAL: 1}
    assert ignored_lines(records)[1:] == [(
        "WARNING", COID, "order update ignored (after_terminal): OrderCanceled would move the "
        "order FILLED -> PARTIALLY_CANCELED")]

    # nothing was written: the order stays FILLED, at its version, in memory and in Redis
    assert ledger.orders[COID] is stored
    again = await store.get_order(COID)
    assert again is not None and (again.status, again.version) == (stored.status,
                                                                   stored.version)


async def test_an_applied_update_is_not_counted(
    store: RedisStore, records: list[dict[str, Any]]
) -> None:
    ledger = Ledger(store, SETTINGS, RULES, await store.load_state(), lambda: 10_000)
    order = new_intent(COID, "QRLUSDT", Side.BUY, "LIMIT", D("30"), D("2"), 1)
    await ledger.write_intent(order)
    await ledger.apply_to_known(COID, OrderStatusReported(report(OrderStatus.NEW, "0", 2_000)))
    assert ledger.orders[COID].status.value == "NEW"
    assert sum(ledger.ignored_transitions.values()) == 0
    assert ignored_lines(records) == []
