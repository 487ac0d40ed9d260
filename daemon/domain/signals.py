"""Moving-average signal math from STRATEGY.md (Signals). Pure.

The rolling window (candles.py) and the planner's one-shot evaluation both use these, so the
trend of a given pair of averages is decided in one place."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from daemon.domain.models import Trend

ONE = Decimal(1)
HUNDRED = Decimal(100)
# the members, read once: ``Trend.BULLISH`` is an enum class attribute lookup (about 100 ns on
# 3.11), and these run once per closed candle on the kline push path
_BULLISH, _BEARISH, _NEUTRAL = Trend.BULLISH, Trend.BEARISH, Trend.NEUTRAL


def sma(closes: Sequence[Decimal], period: int) -> Decimal | None:
    """Mean of the last ``period`` closes, or None when there are fewer."""
    if period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    if len(closes) < period:
        return None
    return sum(closes[-period:], Decimal(0)) / period


def classify_trend(ma_short: Decimal, ma_long: Decimal, deadband: Decimal) -> Trend:
    """BULLISH if short > long*(1+deadband), BEARISH if short < long*(1-deadband)."""
    if not deadband:
        return _BULLISH if ma_short > ma_long else _BEARISH if ma_short < ma_long else _NEUTRAL
    if ma_short > ma_long * (ONE + deadband):
        return _BULLISH
    if ma_short < ma_long * (ONE - deadband):
        return _BEARISH
    return _NEUTRAL


def signal_strength_pct(ma_short: Decimal, ma_long: Decimal) -> Decimal:
    """(ma_short - ma_long) / ma_long * 100; 0 when ma_long is 0."""
    if ma_long == 0:
        return Decimal(0)
    return (ma_short - ma_long) / ma_long * HUNDRED


def crossover(previous: Trend | None, current: Trend) -> Trend | None:
    """The crossover EVENT between two consecutive closed candles' trends: BULLISH for a golden
    cross, BEARISH for a death cross, None otherwise (including the first classified candle)."""
    if previous is None or previous == current or current is _NEUTRAL:
        return None
    return current
