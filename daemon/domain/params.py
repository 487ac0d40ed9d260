"""The numbers the domain's rules run with: plain frozen values, no validation, no defaults.

The config (config.py) validates the operator's YAML and owns the defaults; it turns its
sections into these with ``StrategySettings.params()`` and ``RiskSettings.params()``. The domain
never sees the config objects, so a rule can be called (and tested) with nothing but values.
The keys STRATEGY.md v2 added default to what v1 did (no drift guard, the whole gap, no spread
check), so a caller that does not name them decides as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

StrategyName = Literal["intelligent", "symmetric"]


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """What the decision and the trend signal read (``strategy:`` in config.yaml)."""

    name: StrategyName
    ratio: Decimal  # target share of the base asset in the portfolio value
    threshold: Decimal  # |delta| below threshold * V holds (within_threshold)
    ma_short: int  # closed candles in the short average
    ma_long: int  # closed candles in the long average
    deadband: Decimal  # relative gap between the averages read as NEUTRAL
    buy_discount: Decimal  # a BUY needs price <= cost * (1 - buy_discount)
    profit_target: Decimal  # a SELL needs price >= cost * (1 + profit_target)
    core_pct: Decimal  # share of the base held that an unset core floor starts at
    max_drift: Decimal | None = None  # intelligent: |delta| >= max_drift * V skips the gates
    rebalance_fraction: Decimal = Decimal(1)  # share of the gap one trade closes, (0, 1]


@dataclass(frozen=True, slots=True)
class RiskParams:
    """What sizing and the risk limits read (``risk:`` in config.yaml)."""

    min_notional: Decimal  # the config's minimum order value (the exchange's may be higher)
    max_order_notional: Decimal
    usdt_reserve: Decimal  # quote never spent
    min_trade_interval_s: int  # cooldown
    max_trades_per_day: int  # daily_trade_limit
    max_price_deviation_pct: Decimal  # price_out_of_band, against ma_long
    stale_after_s: int  # stale_market_data
    max_spread_pct: Decimal | None = None  # spread_too_wide (None: not checked)
