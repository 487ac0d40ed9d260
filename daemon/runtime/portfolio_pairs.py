"""A portfolio config (``portfolio.quote/targets``) as pairs the runtime can run: one single-pair
``Settings`` per asset (its ``symbol``, its weight as ``strategy.ratio``, its books' prefix) and
the checks the exchange answers (every pair listed and tradable, ``pair_problems``).

Prefixes (the lead's design, issue 18): each pair's books are today's single-pair books under
``bot:<PAIR>:``; a one-asset portfolio is the single pair exactly (its books and process keys
under ``Settings.key_prefix``, ``redis.key_prefix`` included). With several assets the process's
keys (lease, heartbeat, halt, plans, requests) live under ``Settings.key_prefix``, the
portfolio's prefix (``RedisStore(process_prefix=...)``); the lease is held there AND on every
pair's own ``bot:<PAIR>:lease`` (one script, one owner token), and every pair store's fenced
writes check its pair's key: a single-pair daemon or another basket trading the same pair is
fenced out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Settings
from daemon.config_portfolio import PortfolioSettings, pair_problems
from daemon.domain.models import ExchangeRules
from daemon.errors import ConfigError, SymbolNotTradable


@dataclass(frozen=True, slots=True)
class PairSpec:
    """One asset of the portfolio: its weight and the single-pair settings of its pair."""

    asset: str
    weight: Decimal
    settings: Settings

    @property
    def symbol(self) -> str:
        return self.settings.symbol


def several(settings: Settings) -> bool:
    """A portfolio of more than one asset (its process keys under their own prefix)."""
    return settings.portfolio is not None and len(settings.portfolio.targets) > 1


def process_prefix(settings: Settings) -> str | None:
    """Where the process's keys live when not under the pair's own prefix; None: the pair's."""
    return settings.key_prefix if several(settings) else None


def pair_settings(settings: Settings, asset: str) -> Settings:
    """The single-pair settings of ``asset`` (a portfolio's): its symbol, weight as ratio,
    prefix; every other key the portfolio's. Built without validation (the portfolio's
    settings were validated; this only narrows them to one pair)."""
    p = settings.portfolio
    assert p is not None
    symbol = p.pairs()[asset]
    prefix = settings.key_prefix if not several(settings) else f"bot:{symbol}:"
    redis = settings.redis.model_copy(update={"key_prefix": prefix})
    strategy = settings.strategy.model_copy(update={"ratio": p.targets[asset]})
    return settings.model_copy(update={"symbol": symbol, "portfolio": None, "redis": redis,
                                       "strategy": strategy})


def pair_specs(settings: Settings) -> tuple[PairSpec, ...]:
    """Every asset of ``settings.portfolio`` in the order listed."""
    p = settings.portfolio
    assert p is not None
    return tuple(PairSpec(asset, weight, pair_settings(settings, asset))
                 for asset, weight in p.targets.items())


def process_settings(settings: Settings) -> Settings:
    """The process's settings: the portfolio's, with the first pair as ``symbol`` (what the
    parts that name one symbol in their logs and checkpoints show)."""
    first = pair_specs(settings)[0]
    return settings.model_copy(update={"symbol": first.symbol})


async def listing(rest: MexcRest, symbols: Sequence[str]
                  ) -> tuple[dict[str, bool], dict[str, ExchangeRules]]:
    """symbol -> tradable (absent: the exchange does not list it), and the rules of the
    tradable ones, from the daemon's own reading of exchangeInfo and defaultSymbols."""
    listed: dict[str, bool] = {}
    rules: dict[str, ExchangeRules] = {}
    for symbol in symbols:
        try:
            rules[symbol] = await rest.exchange_rules(symbol)
        except SymbolNotTradable as exc:
            text = str(exc)
            if "not listed in exchangeInfo" not in text and "refused it" not in text:
                listed[symbol] = False  # listed, but offline or not for the API
            continue
        listed[symbol] = rules[symbol].tradable
    return listed, rules


async def portfolio_rules(rest: MexcRest, portfolio: PortfolioSettings
                          ) -> dict[str, ExchangeRules]:
    """asset -> its pair's rules; ConfigError naming every pair that is missing or not
    tradable (``portfolio.targets.<ASSET>: ...``)."""
    pairs = portfolio.pairs()
    listed, rules = await listing(rest, list(pairs.values()))
    problems = pair_problems(portfolio, listed)
    if problems:
        raise ConfigError("portfolio.targets: the exchange does not trade every pair",
                          problems)
    return {asset: rules[symbol] for asset, symbol in pairs.items()}
