"""``rebalancer plan``: evaluate the configured strategy on one snapshot and print the Plan as
JSON (decimals as strings). The snapshot format is documented in daemon/domain/snapshot.py; a
snapshot with ``assets`` (daemon/domain/portfolio_snapshot.py) is a portfolio's, evaluated with
the config's ``portfolio.targets`` and printed with every leg and the portfolio's totals.

Without ``--snapshot`` the snapshot is the daemon's: the decision inputs its heartbeat records
(``P heartbeat`` -> ``snapshot``: balances, price, averages and trend, cost basis, core floor,
trade counters, the symbol's rules, the best bid/ask while fresh; for a basket ``portfolio`` ->
``snapshot``, a portfolio snapshot with every asset's), as of the heartbeat's time,
with the halt flag as it is now. Where it came from and how old it is goes to stderr, the plan
to stdout."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon.adapters.redis_store import RedisStore
from daemon.commands.common import add_config_arg, require_state, with_store
from daemon.commands.status import read_heartbeat
from daemon.config import Settings, load_config
from daemon.domain.planner import Snapshot, evaluate
from daemon.domain.portfolio import PortfolioPlan, evaluate_portfolio
from daemon.domain.portfolio_snapshot import is_portfolio_document, parse_portfolio_snapshot
from daemon.domain.snapshot import parse_snapshot, plan_to_dict
from daemon.errors import InputError, StateError

GIVE_FILE = "give --snapshot FILE to evaluate a snapshot of your own"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="evaluate the strategy on a snapshot and print the plan as JSON",
        description="Evaluate the configured strategy on one snapshot (JSON, see "
        "daemon/domain/snapshot.py) and print the resulting Plan as JSON. Without --snapshot, "
        "on the decision inputs of the daemon running under the config's Redis key prefix "
        "(from its heartbeat; stderr says how old). Exit 0 with a plan, 2 on a bad config or "
        "snapshot or when Redis holds no daemon's inputs, 1 when Redis is unavailable.",
    )
    add_config_arg(p)
    p.add_argument(
        "--snapshot", metavar="FILE",
        help="snapshot JSON file, or - to read it from standard input (default: the "
        "running daemon's, from Redis)",
    )
    p.set_defaults(handler=handle)


def read_snapshot_text(source: str) -> tuple[str, str]:
    """(text, name) of the snapshot at ``source`` ('-' = stdin)."""
    if source == "-":
        return sys.stdin.read(), "<stdin>"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise InputError(f"--snapshot {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--snapshot {path}: cannot read: {exc}") from None


def decode_snapshot(text: str, name: str) -> object:
    """JSON with decimals kept exact (floats parsed as Decimal)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"snapshot {name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def handle(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if args.snapshot is None:
        return with_store(args, _plan_live)
    text, name = read_snapshot_text(args.snapshot)
    data = decode_snapshot(text, name)
    if is_portfolio_document(data) or settings.portfolio is not None:
        return _print_portfolio_plan(data, settings)
    snapshot = parse_snapshot(data, settings.strategy.params(), symbol=settings.symbol)
    return _print_plan(snapshot, settings)


def _print_plan(snapshot: Snapshot, settings: Settings, ratio: Decimal | None = None) -> int:
    strategy = settings.strategy.params()
    if ratio is not None:
        strategy = replace(strategy, ratio=ratio)
    plan = evaluate(snapshot, strategy, settings.risk.params())
    print(json.dumps(plan_to_dict(plan), indent=2), flush=True)
    return 0


def _print_portfolio_plan(data: object, settings: Settings) -> int:
    """A portfolio snapshot: every leg and the totals. A single-pair snapshot under a
    one-asset portfolio prints as a single pair's plan."""
    pf = settings.portfolio
    if pf is None:
        raise InputError(f"snapshot.assets: a snapshot of several assets needs portfolio.targets "
                         f"in the config (this one trades the single pair {settings.symbol})")
    if not is_portfolio_document(data) and len(pf.targets) > 1:
        raise InputError(f"snapshot.assets: missing: the config's portfolio has "
                         f"{len(pf.targets)} assets ({', '.join(pf.targets)}), give each "
                         "one's price, rules and signals under snapshot.assets")
    return _print_result(_portfolio_plan(data, settings), settings)


def _print_result(result: Snapshot | PortfolioPlan, settings: Settings) -> int:
    """A portfolio's plan with every leg; a single pair's snapshot evaluated (a one-asset
    portfolio's at its weight)."""
    if isinstance(result, PortfolioPlan):
        print(json.dumps(result.to_dict(), indent=2), flush=True)
        return 0
    pf = settings.portfolio
    return _print_plan(result, settings,
                       ratio=None if pf is None else next(iter(pf.targets.values())))


async def _plan_live(store: RedisStore, settings: Settings) -> int:
    await require_state(store, settings, f"; {GIVE_FILE}")
    key = store.key("heartbeat")
    beat = await read_heartbeat(store)
    if beat is None:
        raise InputError(f"no live state: {key} is absent (no daemon is running under "
                         f"{key.removesuffix('heartbeat')!r}, or it stopped more than "
                         f"redis.heartbeat_ttl_s ago); {GIVE_FILE}")
    doc = _live_inputs(key, beat, settings)
    halt = await store.get_halt()
    data = {**doc, "halted": halt is not None}
    try:
        result = (parse_snapshot(data, settings.strategy.params(), symbol=settings.symbol)
                  if settings.portfolio is None else _portfolio_plan(data, settings))
    except InputError as exc:
        raise StateError(f"{key}: {exc}") from None
    print(_provenance(key, beat, halt is not None), file=sys.stderr, flush=True)
    return _print_result(result, settings)


def _live_inputs(key: str, beat: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The decision inputs in the heartbeat ``beat``: a basket's (``portfolio`` ->
    ``snapshot``) for a portfolio of several assets, else the pair's (``snapshot``)."""
    pf = settings.portfolio
    several = pf is not None and len(pf.targets) > 1
    part = beat.get("portfolio") if several else beat
    doc = part.get("snapshot") if isinstance(part, dict) else None
    if not isinstance(doc, dict):
        what = " of a portfolio" if several else ""
        raise InputError(f"no live state: {key} holds no decision inputs{what} (written by a "
                         f"daemon of an earlier release: restart it); {GIVE_FILE}")
    if several:
        assert pf is not None
        held = sorted(doc.get("assets") or {})
        if held != sorted(pf.targets):
            raise InputError(f"{key}: the daemon there trades the basket "
                             f"{', '.join(held)}, this config {', '.join(sorted(pf.targets))}")
        return doc
    symbol = settings.symbol if pf is None else next(iter(pf.pairs().values()))
    if beat.get("symbol") not in (None, symbol):
        raise InputError(f"{key}: the daemon there trades {beat.get('symbol')}, this config "
                         f"{symbol}")
    return doc


def _portfolio_plan(data: object, settings: Settings) -> PortfolioPlan | Snapshot:
    """A portfolio's plan of ``data``; a one-asset portfolio's single-pair snapshot."""
    pf = settings.portfolio
    assert pf is not None
    strategy = settings.strategy.params()
    if not is_portfolio_document(data):
        [(asset, _)] = pf.targets.items()
        return parse_snapshot(data, strategy, symbol=f"{asset}{pf.quote}")
    ps = parse_portfolio_snapshot(data, strategy, quote=pf.quote, targets=pf.targets)
    return evaluate_portfolio(ps, strategy, settings.risk.params())


def _provenance(key: str, beat: dict[str, Any], halted: bool) -> str:
    at_ms = int(beat["time_ms"])
    age_s = (time.time_ns() // 1_000_000 - at_ms) / 1000
    at = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"snapshot: the daemon's decision inputs from {key}, written {age_s:.1f} s ago "
            f"({at}; daemon {beat.get('state')}), evaluated as of then with this config's "
            f"strategy and risk settings; halted now: {'yes' if halted else 'no'}")
