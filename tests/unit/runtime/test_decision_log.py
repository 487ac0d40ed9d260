"""The decision line: a trade and a new HOLD reason at INFO, the same HOLD again at DEBUG and,
once every repeat_s, at INFO saying since when it is unchanged; prices at the precision."""

from __future__ import annotations

from decimal import Decimal as D

from daemon.domain.planner import Plan, evaluate
from daemon.runtime.decision_log import DecisionLog
from tests.support.domain_builders import risk, snap, strategy

T0 = 1_764_547_200_000  # 2025-12-01 00:00:00 UTC


def plan(base: str, quote: str, price: str = "2", halted: bool = False) -> Plan:
    return evaluate(snap(base, quote, price, halted=halted), strategy("symmetric"), risk())


def test_an_unchanged_hold_is_said_once_then_every_repeat_s() -> None:
    log = DecisionLog(repeat_s=60)
    hold, halted, trade = plan("50", "100"), plan("50", "100", halted=True), plan("100", "0")
    assert trade.is_trade and hold.reason_code != halted.reason_code
    assert log.level(hold, T0) == ("INFO", "")
    assert log.level(hold, T0 + 1_000) == ("DEBUG", "")
    assert log.level(hold, T0 + 59_999) == ("DEBUG", "")
    assert log.level(hold, T0 + 60_000) == ("INFO", "unchanged since 00:00:00 UTC "
                                                    "(4 evaluations): ")
    assert log.level(hold, T0 + 61_000) == ("DEBUG", "")
    assert log.level(halted, T0 + 62_000) == ("INFO", "")  # another reason: said
    assert log.level(trade, T0 + 63_000) == ("INFO", "")
    assert log.level(halted, T0 + 64_000) == ("INFO", "")  # after a trade: said again


def test_the_line_shows_prices_and_averages_at_the_precision() -> None:
    line = DecisionLog().line(plan("50", "100"), D("0.049871234"),
                              D("0.0498765432109876543210987654"), None, 5)
    assert line.endswith("(price 0.04987 MA short 0.04987 long n/a, drift +0.00 pts)"), line
