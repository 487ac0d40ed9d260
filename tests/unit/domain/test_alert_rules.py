"""When the operator is told (drift episodes, halt changes, the daily summary time) and what
a finished order and a daily summary say."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from daemon.domain.alert_rules import (
    DayFigures,
    DriftWatch,
    HaltWatch,
    day_window,
    drift_text,
    minute_floor_ms,
    order_text,
    summary_due,
    summary_text,
)
from daemon.domain.models import Side
from daemon.domain.orders import OrderState
from tests.support.domain_builders import rules
from tests.support.store_builders import fill, intent

LIMIT = D("0.05")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_drift_alert_once_per_episode_after_the_delay_then_back_within() -> None:
    watch = DriftWatch()
    seen = [watch.observe(D(d), t * 1000, LIMIT, after_s=60) for t, d in [
        (0, "0.01"),     # within
        (10, "0.06"),    # over: the episode starts
        (40, "-0.07"),   # still over (either side), 30 s: not yet
        (70, "0.06"),    # 60 s over: alert
        (100, "0.09"),   # same episode: nothing more
        (130, "0.05"),   # |drift| == limit is within: back
        (140, "0.02"),   # within: nothing
        (150, "0.06"),   # a new episode starts
        (200, "0.01"),   # back before the delay: no alert was sent, nothing said
    ]]
    assert seen == [None, None, None, "alert", None, "back", None, None, None]


def test_drift_alert_at_once_with_no_delay_and_unknown_drift_changes_nothing() -> None:
    watch = DriftWatch()
    assert watch.observe(None, 0, LIMIT, 0) is None
    assert watch.observe(D("-0.2"), 0, LIMIT, 0) == "alert"
    assert watch.observe(None, 1, LIMIT, 0) is None
    assert watch.observe(D("0"), 2, LIMIT, 0) == "back"


def test_drift_texts() -> None:
    assert drift_text("alert", D("0.0712"), LIMIT, 1805) == (
        "drift alert", "drift +7.12 pts has been beyond ±5.00 pts for 1805s")
    assert drift_text("back", D("-0.031"), LIMIT, 0) == (
        "drift back within limit", "drift -3.10 pts is back within ±5.00 pts")


def test_halt_changes() -> None:
    watch = HaltWatch()
    assert [watch.observe(h) for h in (False, True, True, False, False, True)] == [
        None, "halted", None, "resumed", None, "halted"]
    assert HaltWatch().observe(True) == "halted"  # a daemon that starts halted says so


def test_finished_order_text_says_side_quantity_average_price_fills_and_fees() -> None:
    order = replace(intent(qty="300", price="0.05", side=Side.SELL), status=OrderState.FILLED,
                    fills=(fill("1", "100", "0.0512", Side.SELL, fee="0.01"),
                           fill("2", "200", "0.0509", Side.SELL, fee="0.02")), tag="rebalance")
    title, body = order_text(order, rules(base_precision=2, quote_precision=4))
    assert title == "QRLUSDT SELL FILLED"
    # avg (5.12 + 10.18) / 300 = 0.051 exactly
    assert body == ("SELL 300 of 300 QRL at avg 0.051 USDT (2 fill(s), fees 0.03 USDT); "
                    "order rb-t62utc-0 [rebalance]")
    none = replace(intent(qty="300"), status=OrderState.CANCELED)
    assert order_text(none, rules())[1].startswith("BUY 0 of 300 QRL at avg - USDT (0 fill(s), "
                                                   "fees none)")


def test_average_price_rounded_down_to_the_price_precision() -> None:
    order = replace(intent(qty="3"), status=OrderState.PARTIALLY_CANCELED,
                    fills=(fill("1", "1", "0.1"), fill("2", "2", "0.2")))
    assert "at avg 0.1666 USDT" in order_text(order, rules(quote_precision=4))[1]


@pytest.mark.parametrize(("hhmm", "now", "last", "due"), [
    ("00:00", "2026-12-03 00:00:05", None, "2026-12-03"),
    ("00:00", "2026-12-03 00:00:05", "2026-12-03", None),   # sent today already
    ("18:30", "2026-12-03 18:29:59", "2026-12-02", None),   # not yet
    ("18:30", "2026-12-03 18:30:00", "2026-12-02", "2026-12-03"),
    ("18:30", "2026-12-03 23:10:00", "2026-12-02", "2026-12-03"),  # late (e.g. an outage)
])
def test_summary_due(hhmm: str, now: str, last: str | None, due: str | None) -> None:
    assert summary_due(hhmm, ms(now), last) == due


def test_daily_summary_text_covers_the_24_hours_before_the_minute() -> None:
    end = minute_floor_ms(ms("2026-12-03 00:00:41"))
    assert end == ms("2026-12-03 00:00:00")
    assert day_window(end) == (ms("2026-12-02 00:00:00"), end)
    fills = (fill("1", "100", "0.05", Side.BUY, order_id="A", fee="0.005"),
             fill("2", "50", "0.05", Side.BUY, order_id="A", fee="0.0025"),
             fill("3", "80", "0.06", Side.SELL, order_id="B", fee="0.0048"))
    figures = DayFigures(value=D("1234.56789"), realized_pnl=D("0.8"),
                         unrealized_pnl=None, fills=fills)
    title, body = summary_text(figures, rules(quote_precision=4), end)
    assert title == "QRLUSDT daily summary"
    assert body == ("since 2026-12-02 00:00 UTC: value 1234.5678 USDT; realized PnL 0.8 USDT, "
                    "unrealized unknown; 2 order(s), 3 fill(s): bought 150, sold 80 QRL; "
                    "fees 0.0123 USDT")
