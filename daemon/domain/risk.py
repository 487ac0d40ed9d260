"""Risk limits of STRATEGY.md, applied after a BUY/SELL decision. Pure: time is passed in.

Checked in this order; the first that applies turns the trade into a HOLD:

``cooldown``           ``now - last_trade < min_trade_interval_s`` (exactly the interval trades)
``daily_trade_limit``  ``trades_today >= max_trades_per_day`` (the caller counts per UTC day)
``price_out_of_band``  ``|price - ma_long| / ma_long * 100 > max_price_deviation_pct``
                       (exactly the limit trades; skipped when ma_long is unknown)
``stale_market_data``  ``now - last_price > stale_after_s`` (exactly the limit trades)
``spread_too_wide``    ``(ask - bid) / ((ask + bid) / 2) * 100 > max_spread_pct`` (exactly the
                       limit trades; skipped when bid or ask is unknown or the limit is None)

When ``now_ms`` is unknown (a ``plan`` snapshot without ``now_ms``) the two time-based checks
(cooldown, stale_market_data) are skipped; :func:`check_risk` reports every skipped check so the
plan's reason can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from daemon.domain.money import fmt
from daemon.domain.params import RiskParams
from daemon.domain.reasons import ReasonCode

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """What the risk limits look at, besides the order price."""

    now_ms: int | None
    last_trade_ms: int | None
    trades_today: int
    last_price_ms: int | None
    ma_long: Decimal | None
    bid: Decimal | None = None
    ask: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """``code``/``reason`` are None when the trade may go ahead; ``skipped`` names checks that
    could not run (missing data), for the plan's reason."""

    code: ReasonCode | None
    reason: str | None
    skipped: tuple[ReasonCode, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.code is None


def _cooldown(inp: RiskInputs, risk: RiskParams) -> str | None:
    if inp.now_ms is None or inp.last_trade_ms is None:
        return None
    elapsed_ms = inp.now_ms - inp.last_trade_ms
    if elapsed_ms < risk.min_trade_interval_s * 1000:
        return (
            f"cooldown: the last trade was {Decimal(elapsed_ms) / 1000}s ago, less than "
            f"min_trade_interval_s {risk.min_trade_interval_s}s"
        )
    return None


def _daily(inp: RiskInputs, risk: RiskParams) -> str | None:
    if inp.trades_today >= risk.max_trades_per_day:
        return (
            f"daily_trade_limit: {inp.trades_today} trades today reached max_trades_per_day "
            f"{risk.max_trades_per_day}"
        )
    return None


def deviation_pct(price: Decimal, ma_long: Decimal) -> Decimal:
    """|price - ma_long| / ma_long * 100 (ma_long > 0)."""
    return abs(price - ma_long) / ma_long * HUNDRED


def _band(price: Decimal, inp: RiskInputs, risk: RiskParams) -> str | None:
    if inp.ma_long is None or inp.ma_long <= 0:
        return None
    dev = deviation_pct(price, inp.ma_long)
    if dev > risk.max_price_deviation_pct:
        return (
            f"price_out_of_band: price {fmt(price)} is {fmt(dev.quantize(Decimal('0.01')))}% "
            f"away from ma_long {fmt(inp.ma_long)}, more than max_price_deviation_pct "
            f"{fmt(risk.max_price_deviation_pct)}%"
        )
    return None


def _stale(inp: RiskInputs, risk: RiskParams) -> str | None:
    if inp.now_ms is None or inp.last_price_ms is None:
        return None
    age_ms = inp.now_ms - inp.last_price_ms
    if age_ms > risk.stale_after_s * 1000:
        return (
            f"stale_market_data: the last price update is {Decimal(age_ms) / 1000}s old, more "
            f"than stale_after_s {risk.stale_after_s}s"
        )
    return None


def spread_pct(bid: Decimal, ask: Decimal) -> Decimal:
    """(ask - bid) / ((ask + bid) / 2) * 100 (bid + ask > 0)."""
    return (ask - bid) / ((ask + bid) / 2) * HUNDRED


def _known_book(inp: RiskInputs) -> bool:
    return (inp.bid is not None and inp.ask is not None and inp.bid > 0 and inp.ask > 0)


def _spread(inp: RiskInputs, risk: RiskParams) -> str | None:
    if risk.max_spread_pct is None or not _known_book(inp):
        return None
    assert inp.bid is not None and inp.ask is not None
    spread = spread_pct(inp.bid, inp.ask)
    if spread > risk.max_spread_pct:
        return (
            f"spread_too_wide: bid {fmt(inp.bid)} ask {fmt(inp.ask)} is a spread of "
            f"{fmt(spread.quantize(Decimal('0.01')))}%, more than max_spread_pct "
            f"{fmt(risk.max_spread_pct)}%"
        )
    return None


def check_risk(price: Decimal, inp: RiskInputs, risk: RiskParams) -> RiskVerdict:
    """Apply the limits in STRATEGY.md order to a trade at ``price``."""
    skipped: list[ReasonCode] = []
    if inp.now_ms is None:
        skipped += [ReasonCode.COOLDOWN, ReasonCode.STALE_MARKET_DATA]
    if inp.ma_long is None or inp.ma_long <= 0:
        skipped.append(ReasonCode.PRICE_OUT_OF_BAND)
    if risk.max_spread_pct is not None and not _known_book(inp):
        skipped.append(ReasonCode.SPREAD_TOO_WIDE)
    checks = (
        (ReasonCode.COOLDOWN, _cooldown(inp, risk)),
        (ReasonCode.DAILY_TRADE_LIMIT, _daily(inp, risk)),
        (ReasonCode.PRICE_OUT_OF_BAND, _band(price, inp, risk)),
        (ReasonCode.STALE_MARKET_DATA, _stale(inp, risk)),
        (ReasonCode.SPREAD_TOO_WIDE, _spread(inp, risk)),
    )
    for code, message in checks:
        if message is not None:
            return RiskVerdict(code, message.split(": ", 1)[1], tuple(skipped))
    return RiskVerdict(None, None, tuple(skipped))
