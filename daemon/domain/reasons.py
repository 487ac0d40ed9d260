"""The reason codes a plan carries (STRATEGY.md): every HOLD names why, every trade which way.

A ``StrEnum``: each member IS its string (``ReasonCode.HALTED == "halted"``), so JSON, logs and
the CLI show exactly the codes STRATEGY.md lists.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    # common checks, in STRATEGY.md order
    HALTED = "halted"
    NO_PRICE = "no_price"
    EMPTY_PORTFOLIO = "empty_portfolio"
    INSUFFICIENT_DATA = "insufficient_data"
    WITHIN_THRESHOLD = "within_threshold"
    # the intelligent strategy's gate
    NO_BUY_SIGNAL = "no_buy_signal"
    PRICE_ABOVE_COST = "price_above_cost"
    NO_SELL_SIGNAL = "no_sell_signal"
    NO_COST_BASIS = "no_cost_basis"
    BELOW_PROFIT_TARGET = "below_profit_target"
    # sizing
    BELOW_MIN_ORDER = "below_min_order"
    CORE_PROTECTED = "core_protected"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    # risk limits, in the order they are checked
    COOLDOWN = "cooldown"
    DAILY_TRADE_LIMIT = "daily_trade_limit"
    PRICE_OUT_OF_BAND = "price_out_of_band"
    STALE_MARKET_DATA = "stale_market_data"
    SPREAD_TOO_WIDE = "spread_too_wide"
    # trades
    REBALANCE_BUY = "rebalance_buy"
    REBALANCE_SELL = "rebalance_sell"
    DRIFT_GUARD_BUY = "drift_guard_buy"  # intelligent: the drift guard skipped the gates
    DRIFT_GUARD_SELL = "drift_guard_sell"
