"""Rules between config keys: a file whose every key is valid on its own can still describe a
daemon that dies at start or never trades (``min_notional`` above ``max_order_notional``).

``parse_settings`` runs every rule whose keys all parsed, next to the per-key errors, so one
``check-config`` shows every problem at once. Each rule names the keys it reads: when one of
them is itself invalid, the rule is not run (its message would be about a value that is not
the file's).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daemon.config_portfolio import quote_listed_as_target

if TYPE_CHECKING:
    from daemon.config import Settings


@dataclass(frozen=True, slots=True)
class Rule:
    keys: tuple[str, ...]  # dotted paths it reads; the first one is the key it is reported on
    check: Callable[[Settings], str | None]  # the problem, or None


def _periods(s: Settings) -> str | None:
    short, long_ = s.strategy.ma_short, s.strategy.ma_long
    if short >= long_:
        return f"ma_short ({short}) must be smaller than ma_long ({long_})"
    return None


def _lease_renewed_in_time(s: Settings) -> str | None:
    beat, ttl = s.health.heartbeat_interval_s, s.redis.lease_ttl_s
    if beat * 2 > ttl:
        return (f"health.heartbeat_interval_s ({beat:g}) must be at most half of "
                f"redis.lease_ttl_s ({ttl}): the heartbeat renews the trading lease, which "
                "would otherwise expire between renewals")
    return None


def _heartbeat_outlives_its_interval(s: Settings) -> str | None:
    beat, ttl = s.health.heartbeat_interval_s, s.redis.heartbeat_ttl_s
    if ttl <= beat:
        return (f"redis.heartbeat_ttl_s ({ttl}) must be longer than "
                f"health.heartbeat_interval_s ({beat:g}): the heartbeat would expire between "
                "two beats and `status` would call a running daemon stale")
    return None


def _order_size_window(s: Settings) -> str | None:
    low, high = s.risk.min_notional, s.risk.max_order_notional
    if low > high:
        return (f"min_notional ({low}) is above max_order_notional ({high}): no order can "
                "ever be placed")
    return None


def _backoff_bounds(s: Settings) -> str | None:
    first, most = s.runtime.restart_backoff_s, s.runtime.restart_backoff_max_s
    if first > most:
        return f"restart_backoff_s ({first:g}) is above restart_backoff_max_s ({most:g})"
    return None


def _ping_before_stale(s: Settings) -> str | None:
    ping, stale = s.exchange.ws_ping_interval_s, s.exchange.ws_stale_after_s
    if ping > stale:
        return (f"ws_ping_interval_s ({ping:g}) must not be longer than ws_stale_after_s "
                f"({stale:g}): a quiet but healthy stream would be taken for a dead one")
    return None


def _quote_not_a_target(s: Settings) -> str | None:
    return None if s.portfolio is None else quote_listed_as_target(s.portfolio)


def _one_form(key: str) -> Callable[[Settings], str | None]:
    """``symbol`` or ``strategy.ratio`` written next to ``portfolio``: which one decides?"""
    def check(s: Settings) -> str | None:
        section = s if key == "symbol" else s.strategy
        if s.portfolio is None or key.rpartition(".")[2] not in section.model_fields_set:
            return None
        return (f"give either the single pair ({key}) or portfolio, not both: with portfolio, "
                "portfolio.targets gives each asset's pair and weight")
    return check


RULES: tuple[Rule, ...] = (
    Rule(("strategy.ma_short", "strategy.ma_long"), _periods),
    Rule(("health.heartbeat_interval_s", "redis.lease_ttl_s"), _lease_renewed_in_time),
    Rule(("redis.heartbeat_ttl_s", "health.heartbeat_interval_s"),
         _heartbeat_outlives_its_interval),
    Rule(("risk.min_notional", "risk.max_order_notional"), _order_size_window),
    Rule(("runtime.restart_backoff_s", "runtime.restart_backoff_max_s"), _backoff_bounds),
    Rule(("exchange.ws_ping_interval_s", "exchange.ws_stale_after_s"), _ping_before_stale),
    Rule(("portfolio.targets", "portfolio.quote"), _quote_not_a_target),
    Rule(("symbol", "portfolio"), _one_form("symbol")),
    Rule(("strategy.ratio", "portfolio"), _one_form("strategy.ratio")),
)


def _touches(key: str, bad: str) -> bool:
    return key == bad or key.startswith(bad + ".") or bad.startswith(key + ".")


def broken_rules(settings: Settings, bad_keys: Collection[str] = ()) -> list[tuple[str, str]]:
    """(key, problem) for each rule ``settings`` breaks, skipping rules that read a key in
    ``bad_keys`` (dotted paths that did not parse; a section name covers its keys)."""
    out: list[tuple[str, str]] = []
    for rule in RULES:
        if any(_touches(key, bad) for key in rule.keys for bad in bad_keys):
            continue
        problem = rule.check(settings)
        if problem is not None:
            out.append((rule.keys[0], problem))
    return out
