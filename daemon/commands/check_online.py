"""``rebalancer check-config --online``: what the daemon asks the exchange at start, asked now.

Through the daemon's own REST client (``exchange.rest_url``): the server time, the symbol's
rules (exchangeInfo, defaultSymbols: listed, online, spot and API tradable), whether an order
can ever be placed within ``risk``'s bounds and the exchange's minimum, and, with keys, that the
exchange accepts them (a signed account read). And Redis (``redis.url``): reachable, and keeping
the books as ``mode`` needs (an append-only file for ``live``; ``daemon.runtime.persistence``).
Nothing is ordered, written or changed.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from daemon.adapters.mexc.rest import MexcRest
from daemon.adapters.redis_store import RedisStore
from daemon.config import Credentials, Settings, mask_url_password
from daemon.config_portfolio import pair_problems
from daemon.domain.models import ExchangeRules
from daemon.errors import (
    AuthError,
    ExchangeError,
    FatalExchangeError,
    RebalancerError,
    StoreUnavailable,
    SymbolNotTradable,
)
from daemon.runtime.persistence import judge
from daemon.runtime.portfolio_pairs import listing, pair_specs


def check_online(settings: Settings, creds: Credentials | None,
                 problems: list[str]) -> list[str]:
    """The lines saying what the exchange confirmed; what it refused goes to ``problems``.
    RebalancerError (exit 1) when the exchange cannot be asked (down, unreachable)."""
    logger.remove()  # the REST client logs each failure; the problems below say it once
    try:
        return asyncio.run(_ask(settings, creds, problems))
    except (AuthError, SymbolNotTradable, FatalExchangeError) as exc:
        problems.append(f"exchange: {exc}")
        return []
    except ExchangeError as exc:
        raise RebalancerError(f"--online: {settings.exchange.rest_url} could not be asked: "
                              f"{exc}") from None


async def _ask(settings: Settings, creds: Credentials | None, problems: list[str]) -> list[str]:
    lines = await _ask_redis(settings, problems)
    rest = MexcRest(settings.exchange, creds, max_retries=1)
    try:
        await rest.start()
        return lines + await _ask_rules_and_keys(rest, settings, creds, problems)
    finally:
        await rest.close()


async def _ask_redis(settings: Settings, problems: list[str]) -> list[str]:
    """The persistence check the daemon makes at start (read only: INFO, CONFIG GET)."""
    where = mask_url_password(settings.redis.url)
    store = RedisStore(settings.redis.url, settings.key_prefix, socket_timeout_s=3.0)
    try:
        await store.connect()
        found = await store.persistence()
    except StoreUnavailable as exc:
        raise RebalancerError(f"--online: Redis at {where} could not be asked: {exc}") from None
    finally:
        await store.close()
    verdict = judge(found, settings.mode, settings.redis.allow_volatile, where)
    if verdict.refusal is not None:
        problems.append(f"redis: {verdict.refusal}")
        return []
    return [f"redis: {line}" for line in (*verdict.warnings, *verdict.notes)]


async def _ask_rules_and_keys(rest: MexcRest, settings: Settings, creds: Credentials | None,
                              problems: list[str]) -> list[str]:
    lines: list[str] = []
    if settings.portfolio is not None:
        lines += await _ask_pairs(rest, settings, problems)
    else:
        try:
            rules = await rest.exchange_rules(settings.symbol)
        except SymbolNotTradable as exc:
            problems.append(f"symbol: {exc}")
        else:
            lines.append(_tradable(settings, rules))
            problems.extend(_rule_problems(settings, rules))
    if creds is None:
        lines.append("exchange keys: not checked (no keys found)")
        return lines
    try:
        await rest.account()
    except AuthError as exc:
        problems.append(f"credentials: the exchange refused the keys: {exc}")
    else:
        lines.append("exchange keys: accepted (signed account read)")
    return lines


async def _ask_pairs(rest: MexcRest, settings: Settings, problems: list[str]) -> list[str]:
    """A portfolio: every pair ``<ASSET><QUOTE>`` listed and tradable (``pair_problems``)."""
    assert settings.portfolio is not None
    listed, rules = await listing(rest, list(settings.portfolio.pairs().values()))
    problems.extend(pair_problems(settings.portfolio, listed))
    lines = []
    for spec in pair_specs(settings):
        if spec.symbol in rules and listed.get(spec.symbol):
            lines.append(_tradable(spec.settings, rules[spec.symbol]))
            problems.extend(_rule_problems(spec.settings, rules[spec.symbol]))
    return lines


def _tradable(settings: Settings, rules: ExchangeRules) -> str:
    return (f"exchange: {settings.symbol} tradable through the API (minimum order "
            f"{rules.min_notional} {rules.quote_asset}, minimum quantity {rules.min_qty} "
            f"{rules.base_asset})")


def _rule_problems(settings: Settings, rules: ExchangeRules) -> list[str]:
    out = []
    smallest = max(settings.risk.min_notional, rules.min_notional)
    if settings.risk.max_order_notional < smallest:
        out.append(f"risk.max_order_notional: {settings.risk.max_order_notional} is below the "
                   f"smallest order allowed ({smallest} {rules.quote_asset}: the larger of "
                   f"risk.min_notional and {settings.symbol}'s minimum): no order can ever be "
                   "placed")
    if settings.execution.order_type == "limit_maker" and "LIMIT_MAKER" not in rules.order_types:
        out.append(f"execution.order_type: {settings.symbol} does not take LIMIT_MAKER orders "
                   f"(it takes {', '.join(rules.order_types)})")
    return out
