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
     "halted": false,                   default false
     "bid": "0.0499", "ask": "0.0501"}  optional best bid and ask (both or neither; bid < ask):
                                        the spread check and the spread cost; without them the
                                        spread check is SKIPPED and the plan says so

With neither ``closes`` nor ``trend`` (nor both averages) the trend is unknown and the
intelligent strategy holds with ``insufficient_data``. Unknown keys are errors. Every error is
an ``InputError`` whose message starts with the field's path, e.g. ``snapshot.rules.min_qty``.
"""

from __future__ import annotations

from decimal import Decimal

from daemon.domain.fields import FieldReader, Fields, Leniency
from daemon.domain.models import Balance, ExchangeRules, Trend
from daemon.domain.money import ONE, ZERO, fmt
from daemon.domain.params import StrategyParams
from daemon.domain.planner import Plan, Snapshot
from daemon.domain.signals import classify_trend, sma
from daemon.errors import InputError

KNOWN_QUOTES = ("USDT", "USDC", "USDE", "USD1", "BTC", "ETH", "EUR")
TOP_KEYS = frozenset({
    "price", "balances", "closes", "trend", "ma_short", "ma_long", "cost_basis", "core_floor",
    "rules", "trades_today", "last_trade_ms", "now_ms", "last_price_ms", "halted", "bid", "ask",
})
RULE_KEYS = frozenset({
    "base_precision", "quote_precision", "min_qty", "min_notional", "taker_fee", "maker_fee",
    "base_asset", "quote_asset",
})
_DOC = FieldReader(InputError, Leniency.DOCUMENT)  # "snapshot.<path>: ..." errors


def split_symbol(symbol: str) -> tuple[str, str]:
    """QRLUSDT -> ("QRL", "USDT") for the usual quote assets; InputError otherwise."""
    for quote in KNOWN_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise InputError(
        f"snapshot.rules: cannot tell base and quote asset from symbol {symbol!r}; "
        "give rules.base_asset and rules.quote_asset"
    )


def _balance(balances: Fields, asset: str) -> Balance:
    if not balances.has(asset):
        raise InputError(f"{balances.name(asset)}: missing (give at least {{\"free\": \"0\"}})")
    entry = balances.fields(asset, allowed=("free", "locked"))
    free = entry.decimal("free", minimum=ZERO)
    locked = _DOC.decimal(entry.get("locked", ZERO), entry.name("locked"), minimum=ZERO)
    return Balance(asset, free, locked)


def parse_rules(raw: object, symbol: str) -> ExchangeRules:
    """The ``rules`` object of a snapshot."""
    r = _DOC.fields(raw, "snapshot.rules", allowed=RULE_KEYS)
    base_asset, quote_asset = r.get("base_asset"), r.get("quote_asset")
    if base_asset is None or quote_asset is None:
        base_asset, quote_asset = split_symbol(symbol)
    for key, value in (("base_asset", base_asset), ("quote_asset", quote_asset)):
        if not isinstance(value, str) or not value:
            raise InputError(f"snapshot.rules.{key}: expected an asset name, got {value!r}")
    assert isinstance(base_asset, str) and isinstance(quote_asset, str)
    return ExchangeRules(
        symbol=symbol, base_asset=base_asset, quote_asset=quote_asset,
        base_precision=r.integer("base_precision", minimum=0, maximum=18),
        quote_precision=r.integer("quote_precision", minimum=0, maximum=18),
        min_qty=r.decimal("min_qty", minimum=ZERO),
        min_notional=r.decimal("min_notional", minimum=ZERO),
        taker_fee=r.decimal("taker_fee", minimum=ZERO, maximum=ONE),
        maker_fee=_DOC.decimal(r.get("maker_fee", ZERO), r.name("maker_fee"), minimum=ZERO,
                               maximum=ONE),
    )


def _trend(raw: object) -> Trend | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw.upper() in Trend.__members__:
        return Trend(raw.upper())
    return _DOC.enum(raw, "snapshot.trend", Trend)  # names the field and the allowed values


def _signals(
    d: Fields, strategy: StrategyParams
) -> tuple[Decimal | None, Decimal | None, Trend | None]:
    closes_raw = d.get("closes")
    if closes_raw is None:
        trend = _trend(d.get("trend"))
        ma_s = d.opt_decimal("ma_short", positive=True)
        ma_l = d.opt_decimal("ma_long", positive=True)
        if trend is None and ma_s is not None and ma_l is not None:
            trend = classify_trend(ma_s, ma_l, strategy.deadband)
        return ma_s, ma_l, trend
    for other in ("trend", "ma_short", "ma_long"):
        if d.get(other) is not None:
            raise InputError(f"snapshot.{other}: give either closes or {other}, not both")
    if not isinstance(closes_raw, list):
        _DOC.fail("snapshot.closes", f"expected a list of prices, got {type(closes_raw).__name__}")
    closes = [_DOC.decimal(c, f"snapshot.closes[{i}]", positive=True)
              for i, c in enumerate(closes_raw)]
    ma_s, ma_l = sma(closes, strategy.ma_short), sma(closes, strategy.ma_long)
    trend = None
    if ma_s is not None and ma_l is not None:
        trend = classify_trend(ma_s, ma_l, strategy.deadband)
    return ma_s, ma_l, trend


def parse_snapshot(data: object, strategy: StrategyParams, *, symbol: str) -> Snapshot:
    """Validate a snapshot document (already JSON-decoded) into a Snapshot."""
    d = _DOC.fields(data, "snapshot", allowed=TOP_KEYS)
    if not d.has("price"):
        raise InputError("snapshot.price: missing (use null when the price is unknown)")
    price = d.opt_decimal("price")
    if not d.has("rules"):
        raise InputError(
            "snapshot.rules: missing (give base_precision, quote_precision, min_qty, "
            "min_notional and taker_fee)"
        )
    rules = parse_rules(d.get("rules"), symbol)
    balances = d.fields("balances")
    ma_s, ma_l, trend = _signals(d, strategy)
    now_ms = d.opt_integer("now_ms", minimum=0)
    last_trade_ms = d.opt_integer("last_trade_ms", minimum=0)
    last_price_ms = d.opt_integer("last_price_ms", minimum=0)
    if now_ms is None:
        for key, value in (("last_trade_ms", last_trade_ms), ("last_price_ms", last_price_ms)):
            if value is not None:
                raise InputError(f"snapshot.now_ms: missing, needed because {key} is given")
    halted = d.flag("halted")
    bid, ask = _book(d)
    return Snapshot(
        price=price,
        base=_balance(balances, rules.base_asset),
        quote=_balance(balances, rules.quote_asset),
        rules=rules, ma_short=ma_s, ma_long=ma_l, trend=trend,
        cost_basis=d.opt_decimal("cost_basis", positive=True),
        core_floor=d.opt_decimal("core_floor", minimum=ZERO),
        trades_today=_DOC.integer(d.get("trades_today", 0), d.name("trades_today"), minimum=0),
        last_trade_ms=last_trade_ms, now_ms=now_ms,
        last_price_ms=now_ms if last_price_ms is None else last_price_ms,
        halted=halted, bid=bid, ask=ask,
    )


def _book(d: Fields) -> tuple[Decimal | None, Decimal | None]:
    bid = d.opt_decimal("bid", positive=True)
    ask = d.opt_decimal("ask", positive=True)
    if (bid is None) != (ask is None):
        given, missing = ("bid", "ask") if ask is None else ("ask", "bid")
        raise InputError(f"snapshot.{missing}: missing, needed because {given} is given")
    if bid is not None and ask is not None and bid >= ask:
        raise InputError(f"snapshot.bid: {fmt(bid)} is not below ask {fmt(ask)} (a crossed "
                         "book)")
    return bid, ask


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
        "bid": _opt(s.bid), "ask": _opt(s.ask),
    }


def plan_to_dict(plan: Plan) -> dict[str, object]:
    """The Plan as JSON-able data (decimals as strings)."""
    return plan.to_dict()
