"""What a backtest runs: the strategies compared (``--compare`` specs), the exchange rules of
the replayed symbol and the starting portfolio. Every bad value is an InputError naming the
flag.

Strategies (each a :class:`StrategySpec`):
- ``config``: the config file's own strategy, risk limits, execution and schedule.
- ``hold``: buy and hold (the starting portfolio, never traded).
- ``calendar:24h`` / ``calendar:7d`` (any ``calendar:<N>m|h|d``): every period (aligned to the
  epoch, as the daemon's schedule is), all the way back to the target: the ``symmetric``
  decision with threshold 0, the config's minimums and reserve, no other limit.
- ``symmetric:0.02`` (any threshold 0..1): the config with ``strategy.name: symmetric`` and that
  threshold.
- a path to another config file: its strategy, risk, execution and schedule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from daemon.backtest.candles_csv import CandleSeries, rescaled
from daemon.backtest.fills import ExecParams
from daemon.config import Settings, load_config
from daemon.domain.models import Candle, ExchangeRules
from daemon.domain.money import floor_to
from daemon.domain.params import RiskParams, StrategyParams
from daemon.errors import ConfigError, InputError
from daemon.sim.config import SimConfig

Kind = Literal["planner", "hold"]
_PERIOD = re.compile(r"^(\d+)([mhd])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
_NO_LIMIT = Decimal(10) ** 15
QUOTES = ("USDT", "USDC", "BTC", "ETH", "USD")


@dataclass(frozen=True, slots=True)
class StrategySpec:
    name: str
    kind: Kind
    strategy: StrategyParams
    risk: RiskParams
    execution: ExecParams
    interval_s: int  # the schedule (calendar: the period)
    on_crossover: bool
    trigger: str  # the Decision.trigger of a scheduled evaluation: schedule | calendar
    initial_cost_basis: Decimal | None


def from_settings(name: str, s: Settings) -> StrategySpec:
    ex = s.execution
    return StrategySpec(name, "planner", s.strategy.params(), s.risk.params(),
                        ExecParams(ex.order_type, ex.slippage_pct, ex.order_timeout_s),
                        s.schedule.interval_s, s.schedule.evaluate_on_crossover, "schedule",
                        s.strategy.initial_cost_basis)


def parse_compare(text: str, base: StrategySpec) -> StrategySpec:
    """One ``--compare`` value, against the config's own spec ``base``."""
    kind, _, arg = text.partition(":")
    if text == "hold":
        return replace(base, name="hold", kind="hold", on_crossover=False)
    if kind == "calendar" and arg:
        return _calendar(text, arg, base)
    if kind == "symmetric" and arg:
        try:
            threshold = Decimal(arg)
        except InvalidOperation:
            threshold = Decimal(-1)
        if not 0 <= threshold <= 1:
            raise InputError(f"--compare {text}: the threshold must be a number 0..1")
        return replace(base, name=text, strategy=replace(base.strategy, name="symmetric",
                                                         threshold=threshold))
    path = Path(text)
    if not path.is_file():
        raise InputError(f"--compare {text}: not hold, calendar:24h|7d|<N>m|h|d, "
                         "symmetric:<threshold> or an existing config file")
    try:
        other = load_config(path)
    except ConfigError as exc:
        raise InputError(f"--compare {text}: {exc}") from None
    return from_settings(path.name, other)


def _calendar(text: str, arg: str, base: StrategySpec) -> StrategySpec:
    match = _PERIOD.match(arg)
    if match is None or int(match.group(1)) <= 0:
        raise InputError(f"--compare {text}: the period must look like 24h, 7d or 30m")
    period_s = int(match.group(1)) * _UNIT_S[match.group(2)]
    strategy = replace(base.strategy, name="symmetric", threshold=Decimal(0))
    risk = replace(base.risk, max_order_notional=_NO_LIMIT, min_trade_interval_s=0,
                   max_trades_per_day=10**9, max_price_deviation_pct=_NO_LIMIT,
                   stale_after_s=10**12)
    return replace(base, name=text, strategy=strategy, risk=risk, interval_s=period_s,
                   on_crossover=False, trigger="calendar")


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of ``symbol``: the simulator's QRL/USDT for its symbol, else by the quote
    suffix."""
    sim = SimConfig()
    if symbol == sim.symbol:
        return sim.base_asset, sim.quote_asset
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise InputError(f"symbol {symbol}: cannot tell its base and quote asset (quote one of "
                     f"{', '.join(QUOTES)})")


def sim_rules(symbol: str, quote_precision: int) -> ExchangeRules:
    """The simulator's exchange rules and fees (daemon/sim/config.py) for ``symbol``; prices on
    a grid of ``quote_precision`` decimals."""
    sim = SimConfig()
    base, quote = split_symbol(symbol)
    return ExchangeRules(symbol, base, quote, sim.base_precision, quote_precision,
                         sim.decimal("min_qty"), sim.decimal("min_notional"),
                         sim.decimal("taker_fee"), sim.decimal("maker_fee"))


def price_decimals(prices: list[Decimal], at_least: int) -> int:
    """Decimals needed to quote ``prices`` exactly (at least ``at_least``, at most 18)."""
    needed = at_least
    for p in prices:
        exponent = p.as_tuple().exponent
        if isinstance(exponent, int):
            needed = max(needed, -exponent)
    return min(needed, 18)


MAX_AMOUNT = Decimal("1e15")  # a balance, start value or price no portfolio comes near


def parse_balances(items: list[str], rules: ExchangeRules) -> tuple[Decimal, Decimal]:
    """``--balance ASSET=QTY`` values: (base, quote); an asset not named holds 0."""
    held = asset_balances(items, (rules.base_asset, rules.quote_asset))
    return held[rules.base_asset], held[rules.quote_asset]


def asset_balances(items: Sequence[str], assets: Sequence[str]) -> dict[str, Decimal]:
    """``--balance ASSET=QTY`` values for ``assets`` (each 0 when not named)."""
    held = {a: Decimal(0) for a in assets}
    for item in items:
        asset, sep, qty = item.partition("=")
        asset = asset.strip().upper()
        if not sep or asset not in held:
            raise InputError(f"--balance {item}: expected " +
                             " or ".join(f"{a}=QTY" for a in assets))
        try:
            value = Decimal(qty.strip())
        except InvalidOperation:
            raise InputError(f"--balance {item}: {qty!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise InputError(f"--balance {item}: the quantity must be a number >= 0")
        if value > MAX_AMOUNT:  # beyond, the decimal arithmetic overflows (a traceback)
            raise InputError(f"--balance {item}: the quantity must be at most 1e15")
        held[asset] = value
    return held


def split_value(value: Decimal, ratio: Decimal, price: Decimal,
                rules: ExchangeRules) -> tuple[Decimal, Decimal]:
    """``--start-value``: base worth ``ratio`` of ``value`` at ``price`` (rounded down to the
    quantity grid), the rest in quote."""
    base = floor_to(value * ratio / price, rules.base_precision)
    return base, value - base * price


def positive(text: str | None, flag: str) -> Decimal | None:
    """A flag's amount: None when not given, else a number in (0, 1e15]; InputError naming
    ``flag``."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{flag} {text!r}: not a number") from None
    if not value.is_finite() or value <= 0:
        raise InputError(f"{flag} {text!r}: must be a number > 0")
    if value > MAX_AMOUNT:  # beyond, the decimal arithmetic overflows (a traceback)
        raise InputError(f"{flag} {text!r}: must be at most 1e15")
    return value


def replay_prices(series: CandleSeries, rescale_to: Decimal | None, at_least: int
                  ) -> tuple[tuple[Candle, ...], int]:
    """The candles to replay (the window-filling history first) and the decimals of the price
    grid: rescaled ones floored to a grid of ``at_least`` decimals (finer when ``rescale_to``
    needs it), as the simulator's replay does, else the grid the file's prices need."""
    candles = series.history + series.candles
    if rescale_to is None:
        prices = [p for c in candles for p in (c.open, c.high, c.low, c.close)]
        return candles, price_decimals(prices, at_least)
    decimals = price_decimals([rescale_to], at_least)
    factor = rescale_to / series.candles[0].close
    out = tuple(Candle(c.open_time_ms, floor_to(c.open, decimals), floor_to(c.high, decimals),
                       floor_to(c.low, decimals), floor_to(c.close, decimals), c.volume,
                       c.close_time_ms, c.quote_volume)
                for c in rescaled(candles, factor))
    return out, decimals
