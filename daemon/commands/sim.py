"""``rebalancer sim``: run the MEXC Spot v3 simulator as a process until SIGINT/SIGTERM.

By default the simulator is as unkind as the real MEXC (PROTOCOL.md section 9, see
daemon.sim.config.Realism): --kind-exchange turns every such point off, and --trade-ids,
--minimal-replies, --not-found-after-create-s and --cancel-client-id set one point (on top of
--kind-exchange when both are given).

Demo credentials (documented, not secret): API key ``mx0vglDEMOKEY0000000``, secret
``demo-secret-not-real-0000000000000``; override with --api-key/--api-secret or the environment
variables MEXC_SIM_API_KEY / MEXC_SIM_API_SECRET.

One pair (QRLUSDT) by default; --basket serves QRLUSDT, BTCUSDT and ETHUSDT on one account,
--symbols FILE the pairs of a YAML file (daemon.sim.symbols), each with its own rules and
market."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError

DEFAULT_BALANCES = {"QRL": "10000", "USDT": "500"}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sim", help="run the local MEXC Spot v3 simulator (REST + protobuf websocket)",
        description="Serve MEXC's REST API under /api/v3 and the websocket at /ws, with a "
        "matching engine over a replayed candle file or a seeded random walk. Market time runs "
        "at --speed simulated seconds per real second; every reported time, /api/v3/time "
        "included, is simulated time. Behaves like the real MEXC where it departs from its "
        "docs unless --kind-exchange. Stops on SIGINT/SIGTERM.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8800, help="0 picks a free port")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second (default 60)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--replay", type=Path, metavar="FILE",
                   help="candle CSV to replay (../shared/data layout); default: random walk")
    p.add_argument("--rescale", metavar="X", help="multiply replayed prices by X")
    p.add_argument("--start-index", type=int, default=288, metavar="N",
                   help="replay (--replay, or the main symbol's of --symbols): candles "
                   "before N are history (default 288 = one day of 5m)")
    p.add_argument("--start-price", default=None,
                   help="random walk: starting price (default 0.05)")
    several = p.add_mutually_exclusive_group()
    several.add_argument("--basket", action="store_true",
                         help="serve the three-asset basket QRLUSDT, BTCUSDT and ETHUSDT "
                         "(each its own rules and random walk; default balances QRL=10000 "
                         "BTC=0.005 ETH=0.15 USDT=500)")
    several.add_argument("--symbols", type=Path, metavar="FILE",
                         help="serve the symbols of a YAML file, each with its own rules and "
                         "random walk or replay (see daemon/sim/symbols.py)")
    p.add_argument("--balance", action="append", default=[], metavar="ASSET=QTY",
                   help="starting balance, repeatable (default QRL=10000 USDT=500)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--api-secret", default=None)
    p.add_argument("--partial-fill", metavar="RATIO",
                   help="each matching step fills at most RATIO of the remaining quantity")
    for flag, what in (("--fault-5xx", "503 before processing"),
                       ("--fault-lost-reply", "order/cancel processed, reply dropped"),
                       ("--fault-garbled-reply", "order/cancel processed, reply not JSON"),
                       ("--fault-429", "429 with Retry-After"),
                       ("--fault-push-dup", "duplicated websocket pushes")):
        p.add_argument(flag, type=float, default=0.0, metavar="RATE", help=f"rate of {what}")
    p.add_argument("--fault-push-delay-ms", type=int, default=0, metavar="N")
    p.add_argument("--fault-unknown-order-queries", type=int, default=0, metavar="N",
                   help="GET /order answers -2013 to the first N queries of each order")
    p.add_argument("--fault-lost-reply-hang-s", type=float, default=0.0, metavar="S",
                   help="hold a lost reply's connection S seconds before dropping it")
    p.add_argument("--fault-ws-drop", type=float, default=0.0, metavar="RATE",
                   help="chance per second that all websockets are dropped")
    p.add_argument("--fault-ws-stall", type=float, default=0.0, metavar="RATE",
                   help="chance per second that all websockets go silent")
    p.add_argument("--fault-ws-stall-s", type=float, default=2.0, metavar="S",
                   help="how long a websocket stall lasts (default 2)")
    p.add_argument("--kind-exchange", action="store_true",
                   help="the documented exchange: none of the real MEXC's departures from "
                   "its docs (PROTOCOL.md 9)")
    p.add_argument("--trade-ids", metavar="same|distinct", default=None,
                   help="whether a fill's REST myTrades id and deals-push tradeId differ "
                   "(default distinct)")
    p.add_argument("--minimal-replies", metavar="RATE", default=None,
                   help="share of POST/DELETE /order replies that carry only the minimal "
                   "fields (default 0.2)")
    p.add_argument("--not-found-after-create-s", metavar="S", default=None,
                   help="GET /order by client id answers -2013 for up to S real seconds "
                   "after a create (default 3, 0 = off)")
    p.add_argument("--cancel-client-id", metavar="own|echo", default=None,
                   help="clientOrderId of a cancel reply: the cancel's own id (default) or "
                   "the order's")
    p.set_defaults(handler=handle)


def parse_balances(items: list[str]) -> dict[str, str]:
    if not items:
        return dict(DEFAULT_BALANCES)
    out: dict[str, str] = {}
    for item in items:
        asset, sep, qty = item.partition("=")
        if not sep or not asset or not asset.isalnum() or not asset.isupper():
            raise ConfigError(f"--balance {item!r}: expected ASSET=QTY, e.g. USDT=500")
        try:
            value = Decimal(qty)
        except InvalidOperation:
            raise ConfigError(f"--balance {item!r}: {qty!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise ConfigError(f"--balance {item!r}: quantity must be >= 0")
        out[asset] = qty
    return out


def _rate(flag: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{flag} {raw!r}: not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ConfigError(f"{flag} {raw!r}: must be within 0..1")
    return value


def build_realism(args: argparse.Namespace) -> Any:
    """Realism from --kind-exchange and the per-point flags (a flag wins over the base)."""
    from daemon.sim import Realism

    base = Realism.kind() if args.kind_exchange else Realism()
    changes: dict[str, Any] = {}
    for flag, name in (("--trade-ids", "trade_ids"), ("--cancel-client-id",
                                                      "cancel_client_id")):
        raw = getattr(args, name)
        if raw is not None:
            choices = ("same", "distinct") if name == "trade_ids" else ("own", "echo")
            if raw not in choices:
                raise ConfigError(f"{flag} {raw!r}: must be {' or '.join(choices)}")
            changes[name] = raw
    if args.minimal_replies is not None:
        changes["minimal_replies"] = _rate("--minimal-replies", args.minimal_replies)
    if args.not_found_after_create_s is not None:
        raw = args.not_found_after_create_s
        try:
            lag = float(raw)
        except ValueError:
            raise ConfigError(f"--not-found-after-create-s {raw!r}: not a number") from None
        if not 0.0 <= lag <= 60.0:
            raise ConfigError(f"--not-found-after-create-s {raw!r}: must be within 0..60")
        changes["not_found_after_create_s"] = lag
    return dataclasses.replace(base, **changes)


def _single_market(args: argparse.Namespace) -> Any:
    from daemon.sim import RandomWalkMarket, ReplayMarket

    if args.replay is not None:
        if not args.replay.is_file():
            raise ConfigError(f"--replay {args.replay}: no such file")
        return ReplayMarket(path=args.replay, rescale=args.rescale,
                            start_index=args.start_index)
    if args.rescale is not None:
        raise ConfigError("--rescale only applies with --replay")
    return RandomWalkMarket(start_price=args.start_price or "0.05")


def _symbol_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The SimConfig fields of the symbols served: one pair (the default, --replay or
    --start-price), the basket preset or a symbols file; and the balances, where
    --balance overrides the preset's or the file's per asset."""
    from daemon.sim.config import SimConfig
    from daemon.sim.symbols import BASKET_BALANCES, BASKET_SYMBOLS, load_symbols_file

    if not (args.basket or args.symbols):
        return {"market": _single_market(args), "balances": parse_balances(args.balance)}
    flag = "--basket" if args.basket else "--symbols"
    for other, given in (("--replay", args.replay), ("--rescale", args.rescale),
                         ("--start-price", args.start_price)):
        if given is not None:
            raise ConfigError(f"{other} applies to the single pair; with {flag} each symbol "
                              "has its own market" + (" (in the file)" if args.symbols else ""))
    if args.basket:
        symbols, balances = BASKET_SYMBOLS, dict(BASKET_BALANCES)
    else:
        symbols, balances = load_symbols_file(args.symbols,
                                              default_start_index=args.start_index)
        if not balances and not args.balance:
            balances = {s.quote_asset: "500" for s in symbols}
    balances.update(parse_balances(args.balance) if args.balance else {})
    main = SimConfig.for_symbols(symbols)
    return {name: getattr(main, name) for name in _SYMBOL_FIELDS} | {"balances": balances}


_SYMBOL_FIELDS = ("symbol", "base_asset", "quote_asset", "base_precision", "quote_precision",
                  "min_qty", "min_notional", "maker_fee", "taker_fee", "market",
                  "symbol_status", "spot_trading_allowed", "extra_symbols")


def build_config(args: argparse.Namespace) -> Any:
    from daemon.sim import DEMO_API_KEY, DEMO_API_SECRET, Faults, SimConfig

    cfg = SimConfig(
        seed=args.seed, speed=args.speed, **_symbol_fields(args),
        api_key=args.api_key or os.environ.get("MEXC_SIM_API_KEY") or DEMO_API_KEY,
        api_secret=args.api_secret or os.environ.get("MEXC_SIM_API_SECRET") or DEMO_API_SECRET,
        partial_fill_ratio=args.partial_fill,
        faults=Faults(http_5xx_rate=args.fault_5xx, lost_reply_rate=args.fault_lost_reply,
                      garbled_reply_rate=args.fault_garbled_reply,
                      unknown_order_queries=args.fault_unknown_order_queries,
                      rate_limit_rate=args.fault_429, push_duplicate_rate=args.fault_push_dup,
                      push_delay_ms=args.fault_push_delay_ms,
                      lost_reply_hang_s=args.fault_lost_reply_hang_s,
                      ws_drop_rate_per_s=args.fault_ws_drop,
                      ws_stall_rate_per_s=args.fault_ws_stall, ws_stall_s=args.fault_ws_stall_s),
        realism=build_realism(args),
    )
    try:
        cfg.validate()
    except ValueError as exc:
        raise ConfigError(f"sim: {exc}") from None
    return cfg


def handle(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: must be within 0..65535")
    cfg = build_config(args)
    return asyncio.run(_serve(cfg, args.host, args.port))


async def _serve(cfg: Any, host: str, port: int) -> int:
    from daemon.sim import Simulator

    try:
        sim = Simulator(cfg, host=host, port=port)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"sim: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sim.start()
    except OSError as exc:
        raise ConfigError(f"sim: cannot listen on {host}:{port}: {exc}") from None
    print(f"REST {sim.rest_url}/api/v3", flush=True)
    print(f"WS   {sim.ws_url}", flush=True)
    print(f"api key {sim.api_key}  speed {cfg.speed}x  seed {cfg.seed}", flush=True)
    if cfg.extra_symbols:
        print("symbols " + "  ".join(f"{s} {sim.price(s)}" for s in sim.specs), flush=True)
    r = cfg.realism
    print(f"realism trade-ids {r.trade_ids}  minimal-replies {r.minimal_replies}  "
          f"not-found-after-create-s {r.not_found_after_create_s}  "
          f"cancel-client-id {r.cancel_client_id}"
          + ("  (kind exchange)" if not r.wire_types else ""), flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    print("simulator stopped", flush=True)
    return 0
