"""Portfolio snapshot documents (``rebalancer plan --snapshot`` with several assets) ->
:class:`PortfolioSnapshot`. Pure.

A portfolio snapshot has ``assets``: one object per base asset, each holding what a
single-pair snapshot (daemon/domain/snapshot.py) holds for its pair ``<ASSET><QUOTE>`` except
the balances, ``now_ms`` and ``halted``, which the portfolio shares::

    {"balances": {"USDT": {"free": "1000"}, "QRL": {"free": "10000"}, "BTC": {"free": "0"}},
     "now_ms": 1700000000000,            optional, as in a single-pair snapshot
     "halted": false,                    optional
     "assets": {
       "QRL": {"price": "0.05", "trend": "BEARISH", "cost_basis": "0.048",
               "rules": {"base_precision": 8, "quote_precision": 5, "min_qty": "0.01",
                         "min_notional": "1", "taker_fee": "0"}},
       "BTC": {"price": "100000", "closes": [...], "rules": {...}}}}

The assets are those of ``portfolio.targets`` (each once, case-insensitive); each asset and the
quote need a balance. Errors name the field: ``snapshot.assets.BTC.rules.min_qty: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from daemon.domain.fields import FieldReader, Leniency
from daemon.domain.params import StrategyParams
from daemon.domain.planner import Snapshot
from daemon.domain.portfolio import LegInput, PortfolioSnapshot
from daemon.domain.snapshot import TOP_KEYS, parse_snapshot
from daemon.errors import InputError

SHARED_KEYS = frozenset({"balances", "now_ms", "halted"})
PORTFOLIO_KEYS = SHARED_KEYS | {"assets"}
_DOC = FieldReader(InputError, Leniency.DOCUMENT)


def is_portfolio_document(data: object) -> bool:
    """A JSON object with ``assets``: a portfolio snapshot (else a single-pair one)."""
    return isinstance(data, Mapping) and "assets" in data


def _by_upper(raw: Mapping[str, Any], where: str) -> dict[str, tuple[str, Any]]:
    """upper-cased key -> (key as written, value); a key given twice is an error."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in raw.items():
        if key.upper() in out:
            raise InputError(f"{where}.{key}: listed twice (also as "
                             f"{out[key.upper()][0]})")
        out[key.upper()] = (key, value)
    return out


def _asset_doc(asset: str, raw: object, quote: str, shared: dict[str, Any],
               balances: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The single-pair snapshot document of one leg."""
    where = f"snapshot.assets.{asset}"
    doc = _DOC.fields(raw, where, allowed=TOP_KEYS - SHARED_KEYS).data
    rules = doc.get("rules")
    if isinstance(rules, Mapping):
        rules = {"base_asset": asset, "quote_asset": quote, **rules}
        if (rules["base_asset"], rules["quote_asset"]) != (asset, quote):
            raise InputError(f"{where}.rules: base_asset/quote_asset {rules['base_asset']}/"
                             f"{rules['quote_asset']} are not {asset}/{quote}")
    return {**doc, **({} if rules is None else {"rules": rules}), **shared,
            "balances": {asset: balances[asset][1], quote: balances[quote][1]}}


def _leg(asset: str, doc: dict[str, Any], strategy: StrategyParams, quote: str) -> Snapshot:
    try:
        return parse_snapshot(doc, strategy, symbol=f"{asset}{quote}")
    except InputError as exc:
        text = str(exc)
        if text.startswith("snapshot.") and not text.startswith(
                tuple(f"snapshot.{k}" for k in SHARED_KEYS)):
            text = f"snapshot.assets.{asset}.{text.removeprefix('snapshot.')}"
        raise InputError(text) from None


def parse_portfolio_snapshot(data: object, strategy: StrategyParams, *, quote: str,
                             targets: Mapping[str, Decimal]) -> PortfolioSnapshot:
    """Validate a portfolio snapshot document against the ``targets`` (asset -> weight,
    upper-case) of the config."""
    d = _DOC.fields(data, "snapshot", allowed=PORTFOLIO_KEYS)
    assets = _by_upper(d.fields("assets").data, "snapshot.assets")
    for asset in assets:
        if asset not in targets:
            raise InputError(f"snapshot.assets.{assets[asset][0]}: not in portfolio.targets "
                             f"({', '.join(targets)})")
    balances = _by_upper(d.fields("balances").data, "snapshot.balances")
    for asset in (*targets, quote):
        if asset not in assets and asset != quote:
            raise InputError(f"snapshot.assets.{asset}: missing (portfolio.targets lists it)")
        if asset not in balances:
            raise InputError(f"snapshot.balances.{asset}: missing (give at least "
                             "{\"free\": \"0\"})")
    shared = {k: d.get(k) for k in ("now_ms", "halted") if d.has(k)}
    legs = []
    for asset, weight in targets.items():
        doc = _asset_doc(asset, assets[asset][1], quote, shared, balances)
        legs.append(LegInput(asset, weight, _leg(asset, doc, strategy, quote)))
    quote_balance = legs[0].snapshot.quote
    return PortfolioSnapshot(quote_balance, tuple(legs), halted=d.flag("halted"))
