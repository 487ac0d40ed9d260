"""Snapshot documents (the ``rebalancer plan --snapshot`` JSON) <-> :class:`Snapshot`. Pure.

A snapshot document is a JSON object; numbers may be strings (preferred) or JSON numbers::

    {"price": "0.05",                                   required; null = unknown (no_price)
     "balances": {"QRL": {"free": "8000", "locked": "0"},   base and quote required,
                  "USDT": {"free": "600"}},                 locked defaults to "0"
     "closes": ["0.049", ...],          closed candles, oldest first; gives ma_short, ma_long and
                                        the trend with the configured periods and deadband
     "trend": "BULLISH",                or the trend alone (averages unknown); not with closes
     "ma_short": "0.051", "ma_long": "0.05",   optional with "trend" (without it, they give it)
     "cost_basis": "0.052",             default null (unknown)
     "core_floor": "5600",              default null (unset: the intelligent strategy sets it)
     "rules": {"base_precision": 2, "quote_precision": 5, "min_qty": "0.01",
               "min_notional": "1", "taker_fee": "0.0005"},   all five required;
               optional: "maker_fee" (default "0"), "base_asset"/"quote_asset" (default: split
               from the config symbol, e.g. QRLUSDT -> QRL + USDT)
     "trades_today": 0,                 default 0
     "last_trade_ms": null,             default null (no trade yet)
     "now_ms": 1700000000000,           default null: the time-based risk checks (cooldown,
                                        stale_market_data) are SKIPPED and the plan says so
     "last_price_ms": ...,              default now_ms (the price is fresh)
     "halted": false}                   default false

With neither ``closes`` nor ``trend`` (nor both averages) the trend is unknown and the
intelligent strategy holds with ``insufficient_data``. Unknown keys are errors. Every error is
an ``InputError`` whose message starts with the field's path, e.g. ``snapshot.rules.min_qty``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from daemon.domain.models import Balance, ExchangeRules, Trend
from daemon.domain.money import ZERO, fmt, parse_decimal
from daemon.domain.params import StrategyParams
from daemon.domain.planner import Plan, Snapshot
from daemon.domain.signals import classify_trend, sma
from daemon.errors import InputError

KNOWN_QUOTES = ("USDT", "USDC", "USDE", "USD1", "BTC", "ETH", "EUR")
TOP_KEYS = frozenset({
    "price", "balances", "closes", "trend", "ma_short", "ma_long", "cost_basis", "core_floor",
    "rules", "trades_today", "last_trade_ms", "now_ms", "last_price_ms", "halted",
})
RULE_KEYS = frozenset({
    "base_precision", "quote_precision", "min_qty", "min_notional", "taker_fee", "maker_fee",
    "base_asset", "quote_asset",
})
_MISSING = object()


def split_symbol(symbol: str) -> tuple[str, str]:
    """QRLUSDT -> ("QRL", "USDT") for the usual quote assets; InputError otherwise."""
    for quote in KNOWN_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise InputError(
        f"snapshot.rules: cannot tell base and quote asset from symbol {symbol!r}; "
        "give rules.base_asset and rules.quote_asset"
    )


def _mapping(raw: object, path: str, allowed: frozenset[str] | None) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{path}: expected a JSON object, got {_kind(raw)}")
    if allowed is not None:
        unknown = sorted(str(k) for k in raw if k not in allowed)
        if unknown:
            raise InputError(f"{path}.{unknown[0]}: unknown field")
    return raw


def _kind(raw: object) -> str:
    return "null" if raw is None else type(raw).__name__


def _decimal(
    raw: object, path: str, *, minimum: Decimal | None = ZERO, positive: bool = False,
    maximum: Decimal | None = None,
) -> Decimal:
    if raw is _MISSING:
        raise InputError(f"{path}: missing")
    try:
        value = parse_decimal(raw, field=path)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if positive and value <= 0:
        raise InputError(f"{path}: must be positive, got {fmt(value)}")
    if minimum is not None and value < minimum:
        raise InputError(f"{path}: must be >= {fmt(minimum)}, got {fmt(value)}")
    if maximum is not None and value > maximum:
        raise InputError(f"{path}: must be <= {fmt(maximum)}, got {fmt(value)}")
    return value


def _opt_decimal(raw: object, path: str, **kw: bool | Decimal | None) -> Decimal | None:
    if raw is None or raw is _MISSING:
        return None
    return _decimal(raw, path, **kw)  # type: ignore[arg-type]


def _int(raw: object, path: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if raw is _MISSING:
        raise InputError(f"{path}: missing")
    if isinstance(raw, bool) or not isinstance(raw, int):
        if isinstance(raw, Decimal) and raw == raw.to_integral_value():
            raw = int(raw)
        else:
            raise InputError(f"{path}: expected an integer, got {_kind(raw)} {raw!r}")
    assert isinstance(raw, int)
    if raw < minimum or (maximum is not None and raw > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InputError(f"{path}: must be {bound}, got {raw}")
    return raw


def _opt_int(raw: object, path: str) -> int | None:
    return None if raw is None or raw is _MISSING else _int(raw, path)


def _balance(balances: Mapping[str, object], asset: str) -> Balance:
    path = f"snapshot.balances.{asset}"
    raw = balances.get(asset, _MISSING)
    if raw is _MISSING:
        raise InputError(f"{path}: missing (give at least {{\"free\": \"0\"}})")
    entry = _mapping(raw, path, frozenset({"free", "locked"}))
    free = _decimal(entry.get("free", _MISSING), f"{path}.free")
    locked = _decimal(entry.get("locked", "0"), f"{path}.locked")
    return Balance(asset, free, locked)


def parse_rules(raw: object, symbol: str) -> ExchangeRules:
    """The ``rules`` object of a snapshot."""
    r = _mapping(raw, "snapshot.rules", RULE_KEYS)
    base_asset, quote_asset = r.get("base_asset"), r.get("quote_asset")
    if base_asset is None or quote_asset is None:
        base_asset, quote_asset = split_symbol(symbol)
    for key, value in (("base_asset", base_asset), ("quote_asset", quote_asset)):
        if not isinstance(value, str) or not value:
            raise InputError(f"snapshot.rules.{key}: expected an asset name, got {value!r}")
    assert isinstance(base_asset, str) and isinstance(quote_asset, str)
    p = "snapshot.rules."
    return ExchangeRules(
        symbol=symbol, base_asset=base_asset, quote_asset=quote_asset,
        base_precision=_int(r.get("base_precision", _MISSING), p + "base_precision", maximum=18),
        quote_precision=_int(r.get("quote_precision", _MISSING), p + "quote_precision",
                             maximum=18),
        min_qty=_decimal(r.get("min_qty", _MISSING), p + "min_qty"),
        min_notional=_decimal(r.get("min_notional", _MISSING), p + "min_notional"),
        taker_fee=_decimal(r.get("taker_fee", _MISSING), p + "taker_fee", maximum=Decimal(1)),
        maker_fee=_decimal(r.get("maker_fee", "0"), p + "maker_fee", maximum=Decimal(1)),
    )


def _trend(raw: object) -> Trend | None:
    if raw is None or raw is _MISSING:
        return None
    if isinstance(raw, str) and raw.upper() in Trend.__members__:
        return Trend(raw.upper())
    raise InputError(f"snapshot.trend: expected BULLISH, BEARISH or NEUTRAL, got {raw!r}")


def _signals(
    d: Mapping[str, object], strategy: StrategyParams
) -> tuple[Decimal | None, Decimal | None, Trend | None]:
    closes_raw = d.get("closes", _MISSING)
    if closes_raw is _MISSING or closes_raw is None:
        trend = _trend(d.get("trend", _MISSING))
        ma_s = _opt_decimal(d.get("ma_short", _MISSING), "snapshot.ma_short", positive=True)
        ma_l = _opt_decimal(d.get("ma_long", _MISSING), "snapshot.ma_long", positive=True)
        if trend is None and ma_s is not None and ma_l is not None:
            trend = classify_trend(ma_s, ma_l, strategy.deadband)
        return ma_s, ma_l, trend
    for other in ("trend", "ma_short", "ma_long"):
        if d.get(other) is not None:
            raise InputError(f"snapshot.{other}: give either closes or {other}, not both")
    if not isinstance(closes_raw, list):
        raise InputError(f"snapshot.closes: expected a list of prices, got {_kind(closes_raw)}")
    closes = [_decimal(c, f"snapshot.closes[{i}]", positive=True)
              for i, c in enumerate(closes_raw)]
    ma_s, ma_l = sma(closes, strategy.ma_short), sma(closes, strategy.ma_long)
    trend = None
    if ma_s is not None and ma_l is not None:
        trend = classify_trend(ma_s, ma_l, strategy.deadband)
    return ma_s, ma_l, trend


def parse_snapshot(data: object, strategy: StrategyParams, *, symbol: str) -> Snapshot:
    """Validate a snapshot document (already JSON-decoded) into a Snapshot."""
    d = _mapping(data, "snapshot", TOP_KEYS)
    if "price" not in d:
        raise InputError("snapshot.price: missing (use null when the price is unknown)")
    price = _opt_decimal(d["price"], "snapshot.price", minimum=None)
    if "rules" not in d:
        raise InputError(
            "snapshot.rules: missing (give base_precision, quote_precision, min_qty, "
            "min_notional and taker_fee)"
        )
    rules = parse_rules(d["rules"], symbol)
    if "balances" not in d:
        raise InputError("snapshot.balances: missing")
    balances = _mapping(d["balances"], "snapshot.balances", None)
    ma_s, ma_l, trend = _signals(d, strategy)
    now_ms = _opt_int(d.get("now_ms"), "snapshot.now_ms")
    last_trade_ms = _opt_int(d.get("last_trade_ms"), "snapshot.last_trade_ms")
    last_price_ms = _opt_int(d.get("last_price_ms"), "snapshot.last_price_ms")
    if now_ms is None:
        for key, value in (("last_trade_ms", last_trade_ms), ("last_price_ms", last_price_ms)):
            if value is not None:
                raise InputError(f"snapshot.now_ms: missing, needed because {key} is given")
    halted = d.get("halted", False)
    if not isinstance(halted, bool):
        raise InputError(f"snapshot.halted: expected true or false, got {halted!r}")
    return Snapshot(
        price=price,
        base=_balance(balances, rules.base_asset),
        quote=_balance(balances, rules.quote_asset),
        rules=rules, ma_short=ma_s, ma_long=ma_l, trend=trend,
        cost_basis=_opt_decimal(d.get("cost_basis"), "snapshot.cost_basis", positive=True),
        core_floor=_opt_decimal(d.get("core_floor"), "snapshot.core_floor"),
        trades_today=_int(d.get("trades_today", 0), "snapshot.trades_today"),
        last_trade_ms=last_trade_ms, now_ms=now_ms,
        last_price_ms=now_ms if last_price_ms is None else last_price_ms,
        halted=halted,
    )


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def snapshot_to_dict(s: Snapshot) -> dict[str, object]:
    """A snapshot document :func:`parse_snapshot` reads back into an equal Snapshot (averages
    and trend instead of closes)."""
    r = s.rules
    return {
        "price": _opt(s.price),
        "balances": {
            b.asset: {"free": fmt(b.free), "locked": fmt(b.locked)} for b in (s.base, s.quote)
        },
        "trend": None if s.trend is None else s.trend.value,
        "ma_short": _opt(s.ma_short), "ma_long": _opt(s.ma_long),
        "cost_basis": _opt(s.cost_basis), "core_floor": _opt(s.core_floor),
        "rules": {
            "base_asset": r.base_asset, "quote_asset": r.quote_asset,
            "base_precision": r.base_precision, "quote_precision": r.quote_precision,
            "min_qty": fmt(r.min_qty), "min_notional": fmt(r.min_notional),
            "taker_fee": fmt(r.taker_fee), "maker_fee": fmt(r.maker_fee),
        },
        "trades_today": s.trades_today, "last_trade_ms": s.last_trade_ms, "now_ms": s.now_ms,
        "last_price_ms": None if s.now_ms is None else s.last_price_ms, "halted": s.halted,
    }


def plan_to_dict(plan: Plan) -> dict[str, object]:
    """The Plan as JSON-able data (decimals as strings)."""
    return plan.to_dict()
