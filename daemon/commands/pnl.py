"""``rebalancer pnl``: realized PnL, fees, fills and turnover per UTC day or week, recomputed
from every booked fill (``P fills``) by the daemon's own cost basis rule
(daemon.domain.pnl), then unrealized PnL and the portfolio's value against holding what it held
before the first fill, at the heartbeat's price and balances.

What it cannot know is said in ``caveats``: a cost basis the daemon started from (config
``strategy.initial_cost_basis`` or the account's earlier trades) is not in the fills, so the
recomputed realized PnL can differ from the books'; deposits, withdrawals and trades outside the
daemon move the balances without a fill; fees in a third asset are not converted."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

import orjson

from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_asset_arg, add_config_arg, with_store
from daemon.commands.status import (
    DEFAULT_PRICE_DECIMALS,
    EXIT_NO_STATE,
    has_state,
    read_heartbeat,
)
from daemon.config import Settings
from daemon.domain.cost_basis import CostBasis
from daemon.domain.money import shown
from daemon.domain.pnl import PnlReport, holdings_before, pnl_by_period


def register(sub: Any) -> None:
    p = sub.add_parser("pnl", help="realized/unrealized PnL, fees, trades per UTC day or week",
                       description="PnL per UTC day (default) or week from the booked fills, "
                                   "and the value against holding, from Redis.")
    add_config_arg(p)
    add_asset_arg(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--daily", dest="period", action="store_const", const="day",
                   help="one row per UTC day (default)")
    g.add_argument("--weekly", dest="period", action="store_const", const="week",
                   help="one row per ISO week (starting Monday, UTC)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=handle_pnl, period="day")


def handle_pnl(args: argparse.Namespace) -> int:
    async def body(store: RedisStore, settings: Settings) -> int:
        if not await has_state(store, settings):
            return EXIT_NO_STATE
        report = await collect_pnl(store, args.period)
        if args.json:
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        else:
            print(format_pnl(report))
        return 0
    return with_store(args, body)


async def collect_pnl(store: RedisStore, period: str) -> dict[str, Any]:
    state = await store.load_state(adopt=False)
    beat = _pair_view(await read_heartbeat(store) or {}, store.prefix)
    fills = await store.get_fills()
    assets = beat.get("assets") or {}
    base_asset, quote_asset = _assets(assets, fills, store.prefix)
    report = pnl_by_period(fills, period, base_asset=base_asset, quote_asset=quote_asset)
    books = CostBasis.from_dict(state.cost_basis) if state.cost_basis else CostBasis()
    caveats = ["deposits, withdrawals and trades outside the daemon are not fills: they are "
               "not in these figures, and 'vs holding' assumes there were none"]
    if books.realized_pnl != report.cost.realized_pnl or books.avg_cost != report.cost.avg_cost:
        caveats.append(
            "the daemon's books started from a cost basis not made of these fills (config "
            "strategy.initial_cost_basis or earlier trades): its realized PnL "
            f"{books.realized_pnl} and average {books.avg_cost} differ from the recomputation")
    if report.cost.avg_cost is None and any(r.sells for r in report.periods):
        caveats.append("sells with no known average cost realize nothing here (no buy booked "
                       "before them): set strategy.initial_cost_basis for the daemon's books")
    others = sorted({a for r in report.periods for a in r.fees} - {base_asset, quote_asset})
    if others:
        caveats.append(f"fees in {', '.join(others)} are listed, not converted to "
                       f"{quote_asset}")
    return {
        "period": period, "base_asset": base_asset, "quote_asset": quote_asset,
        "decimals": int((beat.get("precision") or {}).get("price", DEFAULT_PRICE_DECIMALS)),
        "periods": [_row(r) for r in report.periods],
        "totals": _totals(report, books),
        "now": _now(report, beat, fills, base_asset, quote_asset),
        "caveats": caveats,
    }


def _pair_view(beat: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A portfolio's heartbeat as the single pair's for the pair of ``prefix``."""
    assets = (beat.get("portfolio") or {}).get("assets")
    if not isinstance(assets, dict):
        return beat
    quote = (beat.get("portfolio") or {}).get("quote")
    for asset, a in assets.items():
        if isinstance(a, dict) and prefix == f"bot:{a.get('symbol')}:":
            return {"time_ms": beat.get("time_ms"), "price": a.get("price"),
                    "books": a.get("books"), "precision": a.get("precision"),
                    "assets": {"base": asset, "quote": quote}}
    return beat


def _assets(assets: dict[str, Any], fills: list[Any], prefix: str) -> tuple[str, str]:
    """Base and quote asset: the heartbeat's, else from the key prefix's symbol and a fee."""
    if assets.get("base") and assets.get("quote"):
        return str(assets["base"]), str(assets["quote"])
    symbol = prefix.rstrip(":").rsplit(":", 1)[-1]
    for quote in ("USDT", "USDC", "BTC", "ETH"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[:-len(quote)], quote
    return symbol, "USDT"


def _row(r: Any) -> dict[str, Any]:
    return {"period": r.period, "realized_pnl": str(r.realized),
            "fees": {a: str(v) for a, v in sorted(r.fees.items())}, "fills": r.fills,
            "orders": r.orders, "buys": r.buys, "sells": r.sells, "turnover": str(r.turnover),
            "base_bought": str(r.base_bought), "base_sold": str(r.base_sold)}


def _totals(report: PnlReport, books: CostBasis) -> dict[str, Any]:
    fees: dict[str, Decimal] = {}
    for r in report.periods:
        for a, v in r.fees.items():
            fees[a] = fees.get(a, Decimal(0)) + v
    return {"realized_pnl": str(report.cost.realized_pnl),
            "books_realized_pnl": str(books.realized_pnl),
            "fees": {a: str(v) for a, v in sorted(fees.items())},
            "fills": sum(r.fills for r in report.periods),
            "orders": sum(r.orders for r in report.periods),
            "turnover": str(sum((r.turnover for r in report.periods), Decimal(0))),
            "first_fill_ms": report.first_fill_ms}


def _now(report: PnlReport, beat: dict[str, Any], fills: list[Any], base_asset: str,
         quote_asset: str) -> dict[str, Any]:
    """Unrealized PnL and value vs holding at the heartbeat's price and balances (None
    without a heartbeat: the price is not known here)."""
    price_text = beat.get("price")
    balances = (beat.get("books") or {}).get("balances") or {}
    out: dict[str, Any] = {"price": price_text, "time_ms": beat.get("time_ms"),
                           "unrealized_pnl": None, "value": None, "holding_value": None,
                           "vs_holding": None}
    if price_text is None or not balances:
        return out
    price = Decimal(price_text)
    zero = {"free": "0", "locked": "0"}
    base = _total(balances.get(base_asset, zero))
    quote = _total(balances.get(quote_asset, zero))
    unrealized = report.cost.unrealized(price)
    base0, quote0 = holdings_before(fills, base, quote, base_asset=base_asset,
                                    quote_asset=quote_asset)
    value, holding = base * price + quote, base0 * price + quote0
    out.update(unrealized_pnl=None if unrealized is None else str(unrealized),
               value=str(value), holding_value=str(holding), vs_holding=str(value - holding),
               held_before={base_asset: str(base0), quote_asset: str(quote0)})
    return out


def _total(b: dict[str, Any]) -> Decimal:
    return Decimal(str(b.get("free", "0"))) + Decimal(str(b.get("locked", "0")))


def format_pnl(r: dict[str, Any]) -> str:
    """A table; amounts at the symbol's precision (the heartbeat's, else 8 places)."""
    q = r["quote_asset"]

    def _m(text: str | None) -> str:
        return shown(None if text is None else Decimal(text), r["decimals"])

    lines = [f"PnL per UTC {r['period']} in {q} (recomputed from the booked fills)",
             f"{'period':<11} {'realized':>14} {'fills':>5} {'orders':>6} {'turnover':>14}  fees"]
    for p in r["periods"]:
        fees = ", ".join(f"{v} {a}" for a, v in p["fees"].items())
        lines.append(f"{p['period']:<11} {_m(p['realized_pnl']):>14} {p['fills']:>5} "
                     f"{p['orders']:>6} {_m(p['turnover']):>14}  {fees}")
    t, n = r["totals"], r["now"]
    fees = ", ".join(f"{v} {a}" for a, v in t["fees"].items()) or "none"
    lines += [f"{'total':<11} {_m(t['realized_pnl']):>14} {t['fills']:>5} {t['orders']:>6} "
              f"{_m(t['turnover']):>14}  {fees}",
              f"books       realized {_m(t['books_realized_pnl'])} (the daemon's cost basis)"]
    if n["value"] is None:
        lines.append("now         unknown (no heartbeat: no price and balances to value at)")
    else:
        lines += [f"now         price {n['price']}: unrealized {_m(n['unrealized_pnl'])}, "
                  f"value {_m(n['value'])}",
                  f"vs holding  {_m(n['vs_holding'])} (holding "
                  f"{' + '.join(f'{v} {a}' for a, v in n['held_before'].items())} from before "
                  f"the first fill is worth {_m(n['holding_value'])})"]
    lines += [f"note: {c}" for c in r["caveats"]]
    return "\n".join(lines)
