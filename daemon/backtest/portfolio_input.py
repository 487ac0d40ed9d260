"""What a portfolio backtest replays, from the command's flags: one candle file per pair of
``portfolio.targets`` (``--candles PAIR=FILE``, the pair's symbol or its base asset before the
``=``), optional ``--rescale-to PAIR=PRICE``, the starting balances (``--balance ASSET=QTY``
for the quote and every asset, or ``--start-value V`` split at the targets at the first
aligned close) and each pair's exchange rules: the simulator's basket (QRLUSDT, BTCUSDT,
ETHUSDT: ``daemon.sim.symbols``) for its pairs, the simulator's single-pair rules for any
other, prices on the grid the file needs. Every bad value is an InputError naming the flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from daemon.backtest.align import align
from daemon.backtest.candles_csv import CandleSeries, read_candles
from daemon.backtest.portfolio_runner import LegMarket, PortfolioReplay
from daemon.backtest.spec import asset_balances, positive, replay_prices
from daemon.config_portfolio import PortfolioSettings
from daemon.domain.models import Candle, ExchangeRules
from daemon.domain.money import floor_to
from daemon.errors import InputError
from daemon.sim.config import SimConfig
from daemon.sim.symbols import BASKET_SYMBOLS


@dataclass(frozen=True, slots=True)
class PortfolioFlags:
    """The flags of ``rebalancer backtest`` a portfolio replay reads."""

    candles: Sequence[str]
    rescale_to: Sequence[str]
    balances: Sequence[str]
    start_value: str | None
    from_ms: int | None
    to_ms: int | None
    history: int  # candles before --from that only fill each pair's window
    fill_model: str
    default_start_value: Decimal


def _by_pair(values: Sequence[str], flag: str, portfolio: PortfolioSettings,
             example: str) -> dict[str, str]:
    """``PAIR=X`` values -> {asset: X}; PAIR is a pair of the portfolio or its asset."""
    pairs = portfolio.pairs()
    by_name = {**{s: a for a, s in pairs.items()}, **{a: a for a in pairs}}
    out: dict[str, str] = {}
    for value in values:
        name, sep, arg = value.partition("=")
        if not sep or not name.strip() or not arg.strip():
            raise InputError(f"{flag} {value}: with a portfolio config give {flag} PAIR="
                             f"{example} per pair, e.g. {flag} {next(iter(pairs.values()))}="
                             f"{example}")
        asset = by_name.get(name.strip().upper())
        if asset is None:
            raise InputError(f"{flag} {value}: {name.strip()} is not a pair of "
                             f"portfolio.targets ({', '.join(pairs.values())})")
        if asset in out:
            raise InputError(f"{flag} {value}: {pairs[asset]} is given twice")
        out[asset] = arg.strip()
    return out


def leg_rules(asset: str, quote: str, decimals: int | None = None) -> ExchangeRules:
    """The simulator's rules of ``<asset><quote>``, prices on a grid of ``decimals`` (None:
    the simulator's own)."""
    symbol = f"{asset}{quote}"
    sim = SimConfig()
    main = sim.main_symbol()
    spec = next((s for s in BASKET_SYMBOLS if s.symbol == symbol), main)
    return ExchangeRules(symbol, asset, quote, spec.base_precision,
                         spec.quote_precision if decimals is None else decimals,
                         Decimal(spec.min_qty), Decimal(spec.min_notional),
                         Decimal(spec.taker_fee or sim.taker_fee),
                         Decimal(spec.maker_fee or sim.maker_fee))


def _balances(items: Sequence[str], portfolio: PortfolioSettings) -> dict[str, Decimal]:
    """``--balance ASSET=QTY`` values: every asset and the quote (0 when not named)."""
    return asset_balances(items, (*portfolio.targets, portfolio.quote))


def _start(flags: PortfolioFlags, portfolio: PortfolioSettings,
           legs: Mapping[str, tuple[ExchangeRules, Decimal]]) -> dict[str, Decimal]:
    """The starting balances; ``legs``: asset -> (rules, its first aligned close)."""
    value = positive(flags.start_value, "--start-value")
    if flags.balances and value is not None:
        raise InputError("give --balance or --start-value, not both")
    if flags.balances:
        held = _balances(flags.balances, portfolio)
    else:
        total = value or flags.default_start_value
        held = {asset: floor_to(total * portfolio.targets[asset] / close, rules.base_precision)
                for asset, (rules, close) in legs.items()}
        held[portfolio.quote] = total - sum((held[a] * legs[a][1] for a in legs), Decimal(0))
    if sum((held[a] * legs[a][1] for a in legs), held[portfolio.quote]) <= 0:
        raise InputError("the starting portfolio is empty (--balance)")
    return held


def _read(flags: PortfolioFlags, portfolio: PortfolioSettings
          ) -> dict[str, tuple[CandleSeries, tuple[Candle, ...], int]]:
    """asset -> (its file's series, the candles to replay, price decimals)."""
    files = _by_pair(flags.candles, "--candles", portfolio, "FILE")
    scales = _by_pair(flags.rescale_to, "--rescale-to", portfolio, "PRICE")
    missing = [s for a, s in portfolio.pairs().items() if a not in files]
    if missing:
        raise InputError(f"--candles: no file for {', '.join(missing)} (every pair of "
                         "portfolio.targets needs one: --candles PAIR=FILE)")
    out = {}
    for asset in portfolio.targets:
        series = read_candles(files[asset], from_ms=flags.from_ms, to_ms=flags.to_ms,
                              history=flags.history)
        rescale = positive(scales.get(asset), f"--rescale-to {portfolio.pairs()[asset]}=")
        at_least = leg_rules(asset, portfolio.quote).quote_precision
        candles, decimals = replay_prices(series, rescale, at_least)
        out[asset] = (series, candles, decimals)
    return out


def build_portfolio_replay(flags: PortfolioFlags, portfolio: PortfolioSettings
                           ) -> PortfolioReplay:
    read = _read(flags, portfolio)
    pairs = portfolio.pairs()
    alignment = align([(pairs[a], s) for a, (s, _, _) in read.items()])
    first = alignment.times[0]
    legs: dict[str, tuple[ExchangeRules, Decimal]] = {}
    for asset, (_, candles, decimals) in read.items():
        close = next(c.close for c in candles if c.open_time_ms == first)
        if close <= 0:
            raise InputError(f"--candles {pairs[asset]}: the first aligned close is 0 after "
                             "--rescale-to")
        legs[asset] = (leg_rules(asset, portfolio.quote, decimals), close)
    held = _start(flags, portfolio, legs)
    markets = tuple(LegMarket(asset, portfolio.targets[asset], legs[asset][0], candles,
                              len(series.history), held[asset])
                    for asset, (series, candles, _) in read.items())
    return PortfolioReplay(portfolio.quote, markets, alignment.times, alignment.interval_ms,
                           held[portfolio.quote], flags.fill_model, alignment.pairs,
                           alignment.missing)
