"""Several symbols for the simulator: the three-asset basket preset (QRL, BTC and ETH against
USDT) and the symbols file of ``rebalancer sim --symbols FILE``.

The basket's rules are plausible copies of MEXC's (PROTOCOL.md 2.1.1 and 7: minimum order
value 1 USDT, maker 0, taker 0.0005; quantity and price decimals as MEXC lists these pairs,
UNSURE to the last digit): QRLUSDT as the single-pair simulator has it (its main symbol, same
market), BTCUSDT with 6 quantity and 2 price decimals, ETHUSDT with 5 and 2. Each pair walks
its own seeded path from a real-like price.

A symbols file (YAML)::

    symbols:                  # the first is the main symbol: its market sets the start
      - symbol: QRLUSDT
        base_asset: QRL
        quote_asset: USDT
        start_price: "0.05"   # a seeded random walk from this price ...
      - symbol: ETHUSDT
        base_asset: ETH
        quote_asset: USDT
        base_precision: 5
        quote_precision: 2
        replay: ETH_BTC-5m.csv  # ... or a candle CSV (relative to this file), with
        rescale: "30000"        # its prices multiplied by this
        status: "2"             # 1 online (default), 2 paused, 3 offline
        spot_trading_allowed: false
    balances: {QRL: "10000", ETH: "0.5", USDT: "500"}

Per symbol also ``min_qty``, ``min_notional``, ``maker_fee``, ``taker_fee`` (defaults:
ExtraSymbol's, fees the main symbol's) and, for the main symbol's replay, ``start_index``.
Every bad value is a ConfigError naming the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from daemon.domain.fields import FieldReader, Fields
from daemon.domain.money import ZERO, fmt
from daemon.errors import ConfigError
from daemon.sim.config import SYMBOL_STATUSES, ExtraSymbol, SimConfig
from daemon.sim.market import MarketSpec, RandomWalkMarket, ReplayMarket

BASKET_SYMBOLS: tuple[ExtraSymbol, ...] = (
    ExtraSymbol("QRLUSDT", "QRL", "USDT", base_precision=2, quote_precision=5, min_qty="0.01",
                min_notional="1", maker_fee="0", taker_fee="0.0005",
                market=RandomWalkMarket(start_price="0.05")),
    ExtraSymbol("BTCUSDT", "BTC", "USDT", base_precision=6, quote_precision=2,
                min_qty="0.000001", min_notional="1", maker_fee="0", taker_fee="0.0005",
                market=RandomWalkMarket(start_price="95000", base_volume="2")),
    ExtraSymbol("ETHUSDT", "ETH", "USDT", base_precision=5, quote_precision=2,
                min_qty="0.00001", min_notional="1", maker_fee="0", taker_fee="0.0005",
                market=RandomWalkMarket(start_price="3300", base_volume="40")),
)
# about 500 USDT of each asset at the start prices
BASKET_BALANCES: dict[str, str] = {"QRL": "10000", "BTC": "0.005", "ETH": "0.15",
                                   "USDT": "500"}


def basket_config(**fields: Any) -> SimConfig:
    """The basket preset (``balances`` defaults to BASKET_BALANCES); ``fields`` are the
    other SimConfig fields (seed, speed, faults...)."""
    fields.setdefault("balances", dict(BASKET_BALANCES))
    return SimConfig.for_symbols(BASKET_SYMBOLS, **fields)


_SYMBOL_KEYS = ("symbol", "base_asset", "quote_asset", "base_precision", "quote_precision",
                "min_qty", "min_notional", "maker_fee", "taker_fee", "status",
                "spot_trading_allowed", "start_price", "replay", "rescale", "start_index")


def load_symbols_file(path: Path, *, default_start_index: int
                      ) -> tuple[tuple[ExtraSymbol, ...], dict[str, str]]:
    """The symbols (main first) and balances of a symbols file; ConfigError naming the key.
    ``default_start_index``: the main symbol's replay start when the file gives none."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--symbols {path}: cannot read it: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--symbols {path}: not valid YAML: {exc}") from None
    reader = FieldReader(lambda msg: ConfigError(f"--symbols {msg}"))
    top = reader.fields(data, str(path), allowed=("symbols", "balances"))
    rows = top.array("symbols")
    if not rows:
        reader.fail(top.name("symbols"), "lists no symbol")
    symbols = tuple(_symbol(reader.fields(row, f"{top.name('symbols')}[{i}]",
                                          allowed=_SYMBOL_KEYS), path.parent, main=i == 0,
                            default_start_index=default_start_index)
                    for i, row in enumerate(rows))
    names = [s.symbol for s in symbols]
    for i, name in enumerate(names):
        if name in names[:i]:
            reader.fail(f"{top.name('symbols')}[{i}].symbol", f"{name} is listed twice")
    balances = _balances(reader, top) if top.has("balances") else {}
    return symbols, balances


def _symbol(f: Fields, base_dir: Path, *, main: bool, default_start_index: int) -> ExtraSymbol:
    defaults = ExtraSymbol("X", "X", "Y")
    texts: dict[str, Any] = {}
    for key in ("min_qty", "min_notional", "maker_fee", "taker_fee"):
        value = f.opt_decimal(key, minimum=ZERO)
        if value is not None:
            texts[key] = fmt(value)
    status = str(f.get("status", "1"))
    if status not in SYMBOL_STATUSES:
        f.reader.fail(f.name("status"), f"expected 1 (online), 2 (paused) or 3 (offline), "
                                        f"got {f.get('status')!r}")
    symbol = ExtraSymbol(
        _asset(f, "symbol"), _asset(f, "base_asset"), _asset(f, "quote_asset"),
        base_precision=_precision(f, "base_precision", defaults.base_precision),
        quote_precision=_precision(f, "quote_precision", defaults.quote_precision),
        market=_market(f, base_dir, main=main, default_start_index=default_start_index),
        status=status, spot_trading_allowed=f.flag("spot_trading_allowed", default=True),
        **texts)
    try:
        symbol.validate()
    except ValueError as exc:
        raise ConfigError(f"--symbols {f.where}: {exc}") from None
    return symbol


def _asset(f: Fields, key: str) -> str:
    value = f.text(key)
    if not value or not value.isalnum() or not value.isupper():
        f.reader.fail(f.name(key), f"expected UPPERCASE letters and digits, got {value!r}")
    return value


def _precision(f: Fields, key: str, default: int) -> int:
    value = f.opt_integer(key, minimum=0, maximum=18)
    return default if value is None else value


def _market(f: Fields, base_dir: Path, *, main: bool, default_start_index: int) -> MarketSpec:
    if not f.has("replay"):
        for key in ("rescale", "start_index"):
            if f.has(key):
                f.reader.fail(f.name(key), "only applies with replay")
        price = f.opt_decimal("start_price", positive=True)
        return RandomWalkMarket() if price is None else RandomWalkMarket(start_price=fmt(price))
    if f.has("start_price"):
        f.reader.fail(f.name("start_price"), "a replayed symbol's prices come from its file; "
                                             "give replay or start_price, not both")
    replay = base_dir / f.text("replay")
    if not replay.is_file():
        f.reader.fail(f.name("replay"), f"no such file: {replay}")
    rescale = f.opt_decimal("rescale", positive=True)
    if f.has("start_index") and not main:
        f.reader.fail(f.name("start_index"), "only the first (main) symbol's replay sets the "
                                             "start; the others follow it")
    start = f.opt_integer("start_index", minimum=0)
    return ReplayMarket(path=replay, rescale=None if rescale is None else fmt(rescale),
                        start_index=(default_start_index if start is None else start)
                        if main else 0)


def _balances(reader: FieldReader, top: Fields) -> dict[str, str]:
    raw: Mapping[str, Any] = top.fields("balances").data
    out: dict[str, str] = {}
    for asset, qty in raw.items():
        name = f"{top.name('balances')}.{asset}"
        if not isinstance(asset, str) or not asset.isalnum() or not asset.isupper():
            reader.fail(name, "an asset is UPPERCASE letters and digits")
        out[asset] = fmt(reader.decimal(qty, name, minimum=ZERO))
    return out
