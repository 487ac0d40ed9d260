"""Plausibility checks of the private pushes, after parsing and before anything acts on them
(issue 12): a push that parses but cannot be true (a negative quantity, an order filled beyond
its quantity) is a ProtocolError naming the wire field and the value, so the stream skips it
and the order it names is asked about instead."""

from __future__ import annotations

from decimal import Decimal

from daemon.adapters.mexc.parsing import AccountUpdate
from daemon.domain.models import Fill, OrderReport
from daemon.errors import ProtocolError


def _at_least_zero(value: Decimal, field: str) -> None:
    if value < 0:
        raise ProtocolError(f"{field}: {value} is negative")


def check_account(update: AccountUpdate) -> AccountUpdate:
    _at_least_zero(update.free, "privateAccount.balanceAmount")
    _at_least_zero(update.locked, "privateAccount.frozenAmount")
    return update


def check_order(report: OrderReport) -> OrderReport:
    _at_least_zero(report.price, "privateOrders.price")
    _at_least_zero(report.orig_qty, "privateOrders.quantity")
    _at_least_zero(report.executed_qty, "privateOrders.cumulativeQuantity")
    _at_least_zero(report.cum_quote_qty, "privateOrders.cumulativeAmount")
    # a MARKET order sized by quote amount has quantity 0: nothing to compare with then
    if report.orig_qty > 0 and report.executed_qty > report.orig_qty:
        raise ProtocolError(f"privateOrders.cumulativeQuantity: {report.executed_qty} is above "
                            f"the order's quantity {report.orig_qty}")
    return report


def check_fill(fill: Fill) -> Fill:
    if fill.qty <= 0:
        raise ProtocolError(f"privateDeals.quantity: {fill.qty} is not above 0")
    if fill.price <= 0:
        raise ProtocolError(f"privateDeals.price: {fill.price} is not above 0")
    _at_least_zero(fill.quote_qty, "privateDeals.amount")
    _at_least_zero(fill.fee, "privateDeals.feeAmount")
    return fill
